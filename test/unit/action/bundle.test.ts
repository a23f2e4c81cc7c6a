/**
 * action/dist/index.js is committed (a runner runs it as it is): rebuilt here
 * into a temporary file, it must be byte-identical; and action.yml, the
 * settings reader and action/README.md must name the same inputs and outputs.
 */
import { describe, expect, it } from "vitest";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { tmpdir } from "node:os";
import { builtinModules } from "node:module";
import { parse } from "yaml";
import { INPUTS } from "../../../action/src/settings.js";

const root = join(import.meta.dirname, "../../..");

describe("the Action's bundle", () => {
  it("is what `npm run build:action` makes from action/src (run it and commit action/dist/index.js when this fails)", () => {
    const dir = mkdtempSync(join(tmpdir(), "hodei-action-build-"));
    try {
      const out = join(dir, "index.js");
      execFileSync(process.execPath, [join(root, "scripts/build-action.mjs"), out], { cwd: root, stdio: "pipe" });
      const fresh = readFileSync(out, "utf8");
      const committed = readFileSync(join(root, "action/dist/index.js"), "utf8");
      expect(committed === fresh, "action/dist/index.js is stale: run `npm run build:action` and commit it").toBe(true);
      // One file, nothing to install: it imports and requires only Node's own modules.
      const loaded = [...fresh.matchAll(/(?:^import\s.*?from\s*|\brequire\()["']([^"']+)["']/gm)].map((m) => m[1]!);
      expect(loaded.length).toBeGreaterThan(0);
      expect(loaded.filter((m) => !m.startsWith("node:") && !builtinModules.includes(m))).toEqual([]);
      expect(fresh).not.toMatch(/@electric-sql\/pglite|from "kysely"/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);

  it("action.yml declares the inputs the settings read, with the documented defaults, and the README documents every input and output", () => {
    const yml = parse(readFileSync(join(root, "action/action.yml"), "utf8")) as {
      inputs: Record<string, { default?: string }>;
      outputs: Record<string, unknown>;
      runs: { using: string; main: string };
    };
    expect(Object.keys(yml.inputs).sort()).toEqual([...INPUTS].sort());
    expect(yml.runs).toEqual({ using: "node24", main: "dist/index.js" });
    expect({ wait: yml.inputs.wait?.default, follow: yml.inputs["follow-logs"]?.default, cancel: yml.inputs["cancel-on-abort"]?.default, mode: yml.inputs.mode?.default }).toEqual({
      wait: "true",
      follow: "true",
      cancel: "true",
      mode: "remote",
    });
    expect(Object.keys(yml.outputs).sort()).toEqual(["attempts", "duration-seconds", "exit-code", "run-id", "status"]);
    const readme = readFileSync(join(root, "action/README.md"), "utf8");
    for (const name of [...INPUTS, ...Object.keys(yml.outputs)]) expect(readme, `action/README.md does not document ${name}`).toContain(`| \`${name}\` |`);
  });
});
