/**
 * docs/cli.md and docs/spec.md are generated (scripts/gen-cli-docs.mjs from
 * the built commands' help, scripts/gen-spec-docs.mjs from schemas/*.json) and
 * committed: regenerated here into a temporary directory, they must be
 * byte-identical. docs/cli.md needs the build (`npm test` builds first).
 */
import { describe, expect, it } from "vitest";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { tmpdir } from "node:os";

const root = join(import.meta.dirname, "../../..");

function regenerated(script: string, committed: string): { fresh: string; committed: string } {
  const dir = mkdtempSync(join(tmpdir(), "hodei-docs-"));
  try {
    const out = join(dir, "out.md");
    execFileSync(process.execPath, [join(root, "scripts", script), out], { cwd: root, stdio: "pipe" });
    return { fresh: readFileSync(out, "utf8"), committed: readFileSync(join(root, committed), "utf8") };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe("generated docs", () => {
  it("docs/spec.md is what the JSON Schemas say (run `npm run gen:docs` and commit when this fails)", () => {
    const r = regenerated("gen-spec-docs.mjs", "docs/spec.md");
    expect(r.committed === r.fresh, "docs/spec.md is stale: run `npm run gen:docs` and commit it").toBe(true);
    // Every field has an example (the generator refuses a field without one) and the page names every schema.
    for (const s of ["job", "policy", "provider", "controller"]) expect(r.fresh).toContain(`schemas/${s}.schema.json`);
  }, 60_000);

  it("docs/cli.md is what the commands' --help says (run `npm run gen:docs` and commit when this fails)", () => {
    const r = regenerated("gen-cli-docs.mjs", "docs/cli.md");
    expect(r.committed === r.fresh, "docs/cli.md is stale: run `npm run gen:docs` (it builds first) and commit it").toBe(true);
    for (const cmd of ["hodei run", "hodei logs", "hodei runs ls", "hodei validate"]) expect(r.fresh).toContain(`### ${cmd}\n`);
  }, 120_000);
});
