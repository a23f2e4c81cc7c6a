/**
 * Golden tests: every test/fixtures/specs/invalid/NN_name.yaml has an
 * NN_name.expected with the exact lines `hodei validate` would print
 * (paths relative to test/fixtures/specs). Regenerate after a deliberate
 * change of wording with `UPDATE_FIXTURES=1 npx vitest run test/unit/schemas`
 * and review the diff.
 */
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { formatSpecError, loadFile, type LoadResult } from "../../../schemas/load.js";

const root = join(dirname(fileURLToPath(import.meta.url)), "../../fixtures/specs");
const update = process.env["UPDATE_FIXTURES"] === "1";

const lines = (r: LoadResult): string[] => r.errors.map((e) => formatSpecError({ ...e, file: relative(root, e.file) }));
const list = (dir: string, re: RegExp): string[] =>
  readdirSync(join(root, dir))
    .filter((f) => re.test(f))
    .sort();

describe("invalid fixtures", () => {
  const files = list("invalid", /\.ya?ml$/);
  it("exist", () => expect(files.length).toBeGreaterThanOrEqual(15));

  for (const f of files) {
    it(f, async () => {
      const result = await loadFile(join(root, "invalid", f));
      const got = lines(result);
      const expectedPath = join(root, "invalid", f.replace(/\.ya?ml$/, ".expected"));
      if (update) writeFileSync(expectedPath, got.join("\n") + "\n");
      const expected = readFileSync(expectedPath, "utf8").split("\n").filter((l) => l !== "");
      expect(got).toEqual(expected);
      // Every error points somewhere real: a 1-based position inside the file.
      const fileLines = readFileSync(join(root, "invalid", f), "utf8").split("\n").length;
      for (const e of result.errors) {
        expect(e.line).toBeGreaterThanOrEqual(1);
        expect(e.line).toBeLessThanOrEqual(fileLines);
        expect(e.col).toBeGreaterThanOrEqual(1);
      }
    });
  }
});

describe("valid fixtures", () => {
  for (const f of list("valid", /\.ya?ml$/)) {
    it(f, async () => {
      const result = await loadFile(join(root, "valid", f));
      expect(lines(result)).toEqual([]);
      expect(result.files).toEqual([join(root, "valid", f)]);
    });
  }
});
