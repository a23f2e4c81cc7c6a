/**
 * schemas/gen/ is ajv's standalone code for the JSON Schemas, committed like
 * proto/gen/: regenerated here into a temp dir, it must be byte-identical.
 */
import { describe, expect, it } from "vitest";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { tmpdir } from "node:os";

const root = join(import.meta.dirname, "../../..");
const files = (dir: string): string[] => readdirSync(dir).sort();

describe("generated schema validators", () => {
  it("are what `npm run gen:validators` makes from schemas/*.schema.json (run it and commit when this fails)", () => {
    const out = mkdtempSync(join(tmpdir(), "hodei-validators-"));
    try {
      execFileSync(process.execPath, [join(root, "scripts/gen-validators.mjs"), out], { cwd: root, stdio: "pipe" });
      const committed = join(root, "schemas/gen");
      expect(files(out)).toEqual(files(committed));
      for (const f of files(out)) {
        expect(readFileSync(join(committed, f), "utf8"), `schemas/gen/${f} is stale`).toBe(readFileSync(join(out, f), "utf8"));
      }
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  }, 60_000);
});
