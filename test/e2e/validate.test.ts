/**
 * `hodei validate` as a user and CI run it: the built CLI (bin/run.js →
 * dist/, so `npm run build` first), exit codes, the line format and --json.
 */
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { hodei, ROOT, tempDir } from "../helpers/procs.js";

const FIXTURES = "test/fixtures/specs";

interface ValidateJson {
  valid: boolean;
  documents: { kind: string; name: string; file: string; line: number }[];
  errors: { file: string; line: number; col: number; pointer: string; message: string }[];
}

const stdoutLines = (b: Buffer): string[] => b.toString().split("\n").filter((l) => l !== "");

describe("hodei validate", () => {
  beforeAll(() => {
    if (!existsSync(join(ROOT, "dist/cli/commands/validate.js"))) throw new Error("dist/ is not built: run `npm run build` first");
  });

  it("passes the examples with exit code 0 and a summary on stderr", async () => {
    const r = await hodei(["validate", "examples/hello"]);
    expect([r.code, r.stdout.toString(), r.stderr]).toEqual([0, "", "4 documents valid in 4 files\n"]);
  });

  it("validates the current folder by default", async () => {
    const r = await hodei(["validate"], { cwd: join(ROOT, "examples/hello") });
    expect([r.code, r.stderr]).toEqual([0, "4 documents valid in 4 files\n"]);
  });

  it("takes many paths", async () => {
    const r = await hodei(["validate", "examples/hello", `${FIXTURES}/valid`]);
    // The fixtures use every field that is accepted but not built yet: each is a warning on stderr, not an error.
    expect(r.code).toBe(0);
    expect(r.stderr.split("\n").filter((l) => l.includes(": warning: "))).toHaveLength(8);
    expect(r.stderr).toMatch(/\n12 documents valid in 11 files \(8 warnings: accepted but not acted on yet\)\n$/);
  });

  it("prints one line per error on stdout and exits 1", async () => {
    const file = `${FIXTURES}/invalid/05_bad_duration.yaml`;
    const r = await hodei(["validate", file, "examples/hello"]);
    const expected = stdoutLines(readFileSync(join(ROOT, file.replace(/\.yaml$/, ".expected")))).map((l) => `${FIXTURES}/${l}`);
    expect(r.code).toBe(1);
    expect(stdoutLines(r.stdout)).toEqual(expected);
    expect(r.stderr).toBe("4 documents valid, 8 errors in 1 file\n");
  });

  it("answers --json with the documents and the errors, still exiting 1 when invalid", async () => {
    const file = `${FIXTURES}/invalid/08_multi_document.yaml`;
    const r = await hodei(["validate", file, "--json"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe("");
    const out = JSON.parse(r.stdout.toString()) as ValidateJson;
    expect(out).toEqual({
      valid: false,
      documents: [
        { kind: "Job", name: "first", file, line: 2 },
        { kind: "Job", name: "third", file, line: 14 },
      ],
      errors: [{ file, line: 12, col: 12, pointer: "/spec/timeout", message: expect.stringContaining('invalid duration "soon"') }],
      warnings: [],
    });
  });

  it("answers --json with valid: true and exit code 0", async () => {
    const r = await hodei(["validate", "examples/hello", "--json"]);
    const out = JSON.parse(r.stdout.toString()) as ValidateJson;
    expect(r.code).toBe(0);
    expect(out.valid).toBe(true);
    expect(out.errors).toEqual([]);
    expect(out.documents.map((d) => d.name)).toEqual(["command", "fail", "hello", "progress"]);
  });

  it("fails for a missing path, a folder without YAML, and files without documents", async () => {
    const dir = tempDir("hodei-validate-");
    writeFileSync(join(dir, "empty.yaml"), "# nothing yet\n");
    const empty = tempDir("hodei-validate-empty-");
    const r = await hodei(["validate", join(dir, "nope"), empty]);
    expect(r.code).toBe(1);
    expect(stdoutLines(r.stdout)).toEqual([
      `${join(dir, "nope")}: no such file or directory`,
      `${empty}: no .yaml or .yml files found (looked in .hodei/, in */.hodei/, in the folder itself and in jobs/)`,
    ]);
    const e = await hodei(["validate", dir]);
    expect([e.code, stdoutLines(e.stdout)]).toEqual([1, [`${dir}: no documents found (the files are empty)`]]);
  });
});
