import { sql } from "kysely";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openStore } from "../../../controller/store/db.js";
import {
  DIALECTS,
  ENV,
  NAMES,
  createTestDatabase,
  createTestStore,
  migrationNames,
  withAdminClient,
  type TestStore,
} from "../../helpers/db.js";

async function databaseExists(name: string): Promise<boolean> {
  return withAdminClient(async (c) => (await c.query("select 1 from pg_database where datname = $1", [name])).rowCount === 1);
}

async function insertRun(store: TestStore, jobName: string): Promise<void> {
  await store.db.insertInto("runs").values({ job_name: jobName, state: "queued", job: "{}", selector: "{}" }).execute();
}

async function jobNames(store: TestStore): Promise<string[]> {
  return (await store.db.selectFrom("runs").select("job_name").orderBy("id").execute()).map((r) => r.job_name);
}

describe.each(DIALECTS)("createTestStore on %s", (dialect) => {
  let a: TestStore;
  let b: TestStore;
  beforeAll(async () => {
    [a, b] = await Promise.all([createTestStore(dialect), createTestStore(dialect)]);
  });
  afterAll(async () => {
    await a.dispose();
    await b.dispose();
  });

  it("gives a migrated store of that dialect", async () => {
    expect(a.dialect).toBe(dialect);
    const r = await sql<{ name: string }>`select name from hodei_migrations order by name`.execute(a.db);
    expect(r.rows.map((x) => x.name)).toEqual(migrationNames());
  });

  it("gives each caller its own database", async () => {
    await insertRun(a, "only-in-a");
    expect(await jobNames(a)).toEqual(["only-in-a"]);
    expect(await jobNames(b)).toEqual([]);
  });
});

describe("PostgreSQL test databases", () => {
  it("copies this run's template, which no one may connect to", async () => {
    const template = process.env[ENV.template];
    expect(template).toBe(`${NAMES.template}${process.env[ENV.runId]}`);
    const allowed = await withAdminClient(
      async (c) => (await c.query<{ ok: boolean }>("select datallowconn as ok from pg_database where datname = $1", [template])).rows[0]?.ok,
    );
    expect(allowed).toBe(false);
  });

  it("serves a URL a separate process can use, and drops the database (even with a connection left open)", async () => {
    const database = await createTestDatabase();
    expect(database.name.startsWith(`${NAMES.database}${process.env[ENV.runId]}_`)).toBe(true);
    const leaked = await openStore({ databaseUrl: database.url, migrate: false }); // a controller that did not shut down
    await sql`select 1`.execute(leaked.db);
    await database.drop();
    expect(await databaseExists(database.name)).toBe(false);
    await leaked.close();
    await database.drop(); // idempotent
  });

  it("drops a store's database on dispose", async () => {
    const store = await createTestStore("postgres");
    const name = new URL(store.url!).pathname.slice(1);
    expect(await databaseExists(name)).toBe(true);
    await store.dispose();
    expect(await databaseExists(name)).toBe(false);
  });
});
