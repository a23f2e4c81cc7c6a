/**
 * A new embedded database is a copy of the build's template (controller/store/template.ts):
 * only where no database is yet, and never half a copy in place of one.
 */
import { describe, expect, it } from "vitest";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openStore } from "../../../controller/store/db.js";
import { seedFromTemplate } from "../../../controller/store/template.js";
import { ROOT } from "../../helpers/procs.js";

function template(): string {
  const dir = mkdtempSync(join(tmpdir(), "hodei-template-"));
  writeFileSync(join(dir, "PG_VERSION"), "18\n");
  mkdirSync(join(dir, "base", "1"), { recursive: true });
  writeFileSync(join(dir, "base", "1", "1259"), "catalog");
  return dir;
}

describe("seedFromTemplate", () => {
  it("copies the template into a missing or empty data dir, nothing left beside it", async () => {
    const tpl = template();
    const parent = mkdtempSync(join(tmpdir(), "hodei-seed-"));
    const missing = join(parent, "db");
    expect(await seedFromTemplate(missing, tpl)).toBe(true);
    expect(readFileSync(join(missing, "base", "1", "1259"), "utf8")).toBe("catalog");
    const empty = join(parent, "empty");
    mkdirSync(empty);
    expect(await seedFromTemplate(empty, tpl)).toBe(true);
    expect(existsSync(join(empty, "PG_VERSION"))).toBe(true);
    expect(readdirSync(parent).sort()).toEqual(["db", "empty"]);
  });

  it("leaves a data dir that holds anything alone, and does nothing without a template", async () => {
    const tpl = template();
    const parent = mkdtempSync(join(tmpdir(), "hodei-seed-"));
    const used = join(parent, "db");
    mkdirSync(used);
    writeFileSync(join(used, "PG_VERSION"), "17\n");
    expect(await seedFromTemplate(used, tpl)).toBe(false);
    expect(readFileSync(join(used, "PG_VERSION"), "utf8")).toBe("17\n");
    expect(await seedFromTemplate(join(parent, "other"), join(parent, "no-template"))).toBe(false);
    expect(existsSync(join(parent, "other"))).toBe(false);
  });
});

describe("the build's template (dist/pglite-template, made by npm run build)", () => {
  it("holds only the database Hodei uses, with its tables: a store opened on a copy needs no initdb", async () => {
    const dataDir = join(mkdtempSync(join(tmpdir(), "hodei-seed-")), "db");
    // From sources, TEMPLATE_DIR would point beside controller/; the build puts the template in dist/.
    const store = await openStore({ dataDir, template: join(ROOT, "dist", "pglite-template") });
    try {
      expect(store.created).toBe("template");
      const dbs = await store.db.selectFrom("pg_database" as never).select("datname" as never).execute();
      expect(dbs.map((r) => (r as { datname: string }).datname)).toEqual(["postgres"]);
      expect(await store.db.selectFrom("runs").select((eb) => eb.fn.countAll().as("n")).executeTakeFirstOrThrow()).toEqual({ n: expect.anything() });
    } finally {
      await store.close();
    }
  });
});
