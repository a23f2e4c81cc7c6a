import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer, type AddressInfo, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { sql, type Kysely } from "kysely";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { DatabaseConnectError, DatabaseUrlError, openStore, type Store } from "../../../controller/store/db.js";
import { schemaSnapshot } from "../../../controller/store/introspect.js";
import { migrateToLatest } from "../../../controller/store/migrate.js";
import { createTestDatabase, databaseUrlFor, migrationNames, testDatabaseUrl, type TestDatabase } from "../../helpers/db.js";

const SNAPSHOT = readFileSync(new URL("../../../controller/store/schema.snapshot.txt", import.meta.url), "utf8");
const STALE_SNAPSHOT = "schema differs from controller/store/schema.snapshot.txt: if intended, run `npx tsx scripts/db-schema.ts`";

const databases: TestDatabase[] = [];
const stores: Store[] = [];
afterEach(async () => {
  for (const s of stores.splice(0)) await s.close();
  for (const d of databases.splice(0)) await d.drop();
});

async function emptyDatabase(): Promise<TestDatabase> {
  const d = await createTestDatabase({ migrated: false });
  databases.push(d);
  return d;
}

function raw(store: Store): Kysely<unknown> {
  return store.db as unknown as Kysely<unknown>;
}

async function appliedMigrations(store: Store): Promise<{ name: string; timestamp: string }[]> {
  const r = await sql<{ name: string; timestamp: string }>`select name, timestamp from hodei_migrations order by name`.execute(
    raw(store),
  );
  return r.rows;
}

describe("migrations on PostgreSQL", () => {
  it("lets two controllers open a fresh database at once: both succeed, each migration applies once", async () => {
    const { url } = await emptyDatabase();
    // Separate pools, as two controller processes would have.
    const opened = await Promise.all([openStore({ databaseUrl: url }), openStore({ databaseUrl: url })]);
    stores.push(...opened);
    const [a, b] = opened as [Store, Store];
    expect((await appliedMigrations(a)).map((m) => m.name)).toEqual(migrationNames());
    expect(await schemaSnapshot(raw(b)), STALE_SNAPSHOT).toBe(SNAPSHOT);
  });

  it("applies each migration exactly once when several migrators race on one database", async () => {
    const { url } = await emptyDatabase();
    const racers = await Promise.all([1, 2, 3].map(() => openStore({ databaseUrl: url, migrate: false })));
    stores.push(...racers);
    const applied = (await Promise.all(racers.map((s) => migrateToLatest(raw(s))))).flat();
    expect(applied.sort()).toEqual(migrationNames());
  });

  it("does nothing when reopened", async () => {
    const { url } = await emptyDatabase();
    const first = await openStore({ databaseUrl: url });
    stores.push(first);
    const before = await appliedMigrations(first);
    const again = await openStore({ databaseUrl: url });
    stores.push(again);
    expect(await appliedMigrations(again)).toEqual(before);
    expect(await migrateToLatest(raw(again))).toEqual([]);
  });
});

describe("a database URL that does not work", () => {
  let silent: Server | undefined;
  afterAll(() => silent?.close());

  async function openError(databaseUrl: string, connectTimeoutMs?: number): Promise<Error> {
    const err: unknown = await openStore({ databaseUrl, ...(connectTimeoutMs ? { connectTimeoutMs } : {}) }).then(
      (s) => {
        stores.push(s);
        throw new Error(`opened ${databaseUrl}`);
      },
      (e: unknown) => e,
    );
    if (!(err instanceof Error)) throw new Error(`not an Error: ${String(err)}`);
    return err;
  }

  /** A port nothing listens on (it was free a moment ago). */
  async function closedPort(): Promise<number> {
    const s = createServer().listen(0, "127.0.0.1");
    await new Promise((r) => s.once("listening", r));
    const { port } = s.address() as AddressInfo;
    await new Promise((r) => s.close(r));
    return port;
  }

  it("names the host and port to check when nothing listens, and hides the password", async () => {
    const port = await closedPort();
    const err = await openError(`postgres://hodei:s3cret@127.0.0.1:${port}/hodei`);
    expect(err).toBeInstanceOf(DatabaseConnectError);
    expect(err.message).toContain(`nothing accepts connections at 127.0.0.1:${port}`);
    expect(err.message).toMatch(/check that PostgreSQL is running and the host and port/);
    expect(err.message).toContain("hodei:***@");
    expect(err.message).not.toContain("s3cret");
  });

  it("says to create a database that does not exist", async () => {
    const err = await openError(databaseUrlFor("hodei_no_such_db"));
    expect(err).toBeInstanceOf(DatabaseConnectError);
    expect(err.message).toMatch(/database "hodei_no_such_db" does not exist .*createdb hodei_no_such_db/);
  });

  it("says which user failed to authenticate", async () => {
    const url = new URL(testDatabaseUrl());
    url.username = "hodei_no_such_user";
    const err = await openError(url.href);
    expect(err).toBeInstanceOf(DatabaseConnectError);
    expect(err.message).toMatch(/authentication failed for user "hodei_no_such_user".*check the user and password/);
  });

  it("rejects a string that is not a PostgreSQL URL before connecting", async () => {
    for (const bad of ["garbage", "localhost:5432/hodei", "http://127.0.0.1:5432/hodei"]) {
      const err = await openError(bad);
      expect(err, bad).toBeInstanceOf(DatabaseUrlError);
      expect(err.message).toMatch(/expected postgres:\/\/USER:PASSWORD@HOST:PORT\/DATABASE/);
    }
  });

  it("gives up on a server that never answers, after the connect timeout", async () => {
    silent = createServer(() => {}).listen(0, "127.0.0.1");
    await new Promise((r) => silent!.once("listening", r));
    const { port } = silent.address() as AddressInfo;
    const started = Date.now();
    const err = await openError(`postgres://postgres@127.0.0.1:${port}/x`, 300);
    expect(err.message).toContain(`no answer from 127.0.0.1:${port} within 300 ms`);
    expect(Date.now() - started).toBeLessThan(5_000);
  });
});

describe("PGlite data directory", () => {
  const root = mkdtempSync(join(tmpdir(), "hodei-pglite-"));
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  it("keeps data across close and reopen, and does not migrate again", async () => {
    const dataDir = join(root, "missing-parent", "data");
    const first = await openStore({ dataDir });
    const run = await first.db
      .insertInto("runs")
      .values({ job_name: "persist", state: "queued", job: JSON.stringify({ a: 1 }), selector: "{}" })
      .returning("id")
      .executeTakeFirstOrThrow();
    const applied = await appliedMigrations(first);
    await first.close();

    const second = await openStore({ dataDir });
    stores.push(second);
    const row = await second.db.selectFrom("runs").select(["id", "job_name", "job"]).where("id", "=", run.id).executeTakeFirst();
    expect(row).toEqual({ id: run.id, job_name: "persist", job: { a: 1 } });
    expect(await appliedMigrations(second)).toEqual(applied);
    expect(await schemaSnapshot(raw(second)), STALE_SNAPSHOT).toBe(SNAPSHOT);
  });
});
