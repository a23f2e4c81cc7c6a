import { describe, expect, it } from "vitest";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { join, relative } from "node:path";
import { tmpdir } from "node:os";

const root = join(import.meta.dirname, "../..");

function files(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile())
    .map((e) => relative(dir, join(e.parentPath, e.name)))
    .sort();
}

describe("generated protobuf code", () => {
  it("is what `npm run gen:proto` makes from proto/hodei/v1 (run it and commit when this fails)", () => {
    const out = mkdtempSync(join(tmpdir(), "hodei-proto-"));
    try {
      execFileSync(process.execPath, [join(root, "scripts/gen-proto.mjs"), out], { cwd: root, stdio: "pipe" });
      const committed = join(root, "proto/gen");
      expect(files(out)).toEqual(files(committed));
      for (const f of files(out)) {
        expect(readFileSync(join(committed, f), "utf8"), `proto/gen/${f} is stale`).toBe(readFileSync(join(out, f), "utf8"));
      }
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  });
});
