/**
 * A new embedded database is a copy of the build's template (controller/store/template.ts):
 * only where no database is yet, and never half a copy in place of one.
 */
import { describe, expect, it } from "vitest";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { seedFromTemplate } from "../../../controller/store/template.js";

function template(): string {
  const dir = mkdtempSync(join(tmpdir(), "hodei-template-"));
  writeFileSync(join(dir, "PG_VERSION"), "18\n");
  mkdirSync(join(dir, "base", "1"), { recursive: true });
  writeFileSync(join(dir, "base", "1", "1259"), "catalog");
  return dir;
}

describe("seedFromTemplate", () => {
  it("copies the template into a missing or empty data dir, nothing left beside it", () => {
    const tpl = template();
    const parent = mkdtempSync(join(tmpdir(), "hodei-seed-"));
    const missing = join(parent, "db");
    expect(seedFromTemplate(missing, tpl)).toBe(true);
    expect(readFileSync(join(missing, "base", "1", "1259"), "utf8")).toBe("catalog");
    const empty = join(parent, "empty");
    mkdirSync(empty);
    expect(seedFromTemplate(empty, tpl)).toBe(true);
    expect(existsSync(join(empty, "PG_VERSION"))).toBe(true);
    expect(readdirSync(parent).sort()).toEqual(["db", "empty"]);
  });

  it("leaves a data dir that holds anything alone, and does nothing without a template", () => {
    const tpl = template();
    const parent = mkdtempSync(join(tmpdir(), "hodei-seed-"));
    const used = join(parent, "db");
    mkdirSync(used);
    writeFileSync(join(used, "PG_VERSION"), "17\n");
    expect(seedFromTemplate(used, tpl)).toBe(false);
    expect(readFileSync(join(used, "PG_VERSION"), "utf8")).toBe("17\n");
    expect(seedFromTemplate(join(parent, "other"), join(parent, "no-template"))).toBe(false);
    expect(existsSync(join(parent, "other"))).toBe(false);
  });
});
