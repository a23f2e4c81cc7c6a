/**
 * Every example job names its JSON Schema on its first line, as the YAML
 * language server reads it (`# yaml-language-server: $schema=...`), with a
 * path that resolves to the schema of its kind; and the examples still load
 * with no error (what `hodei validate examples` checks).
 */
import { describe, expect, it } from "vitest";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { loadPaths } from "../../../schemas/load.js";

const root = join(import.meta.dirname, "../../..");

function yamlFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) return yamlFiles(p);
    return /\.ya?ml$/.test(name) ? [p] : [];
  });
}

describe("examples", () => {
  const files = yamlFiles(join(root, "examples"));

  it("each names the schema of its kind on its first line, by a path that exists", () => {
    expect(files.length).toBeGreaterThan(0);
    for (const f of files) {
      const [first, ...rest] = readFileSync(f, "utf8").split("\n");
      const schema = /^# yaml-language-server: \$schema=(\S+)$/.exec(first ?? "")?.[1];
      expect(schema, `${f} has no yaml-language-server line`).toBeDefined();
      const kind = /^kind: (\w+)$/m.exec(rest.join("\n"))?.[1]?.toLowerCase();
      expect(schema!.endsWith(`schemas/${kind}.schema.json`), `${f}: ${schema} is not the ${kind} schema`).toBe(true);
      expect(existsSync(resolve(dirname(f), schema!)), `${f}: ${schema} does not exist`).toBe(true);
    }
  });

  it("still load without errors", async () => {
    const r = await loadPaths([join(root, "examples")]);
    expect(r.errors).toEqual([]);
    expect(r.documents.length).toBe(files.length);
  });

  it("the schemas are published in the package", () => {
    const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as { files: string[] };
    expect(pkg.files).toContain("schemas/*.json");
  });
});
