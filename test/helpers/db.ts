/**
 * Test databases, graphile-worker style: every test file gets its own
 * database, copied from a template that global-setup.ts migrated once per
 * `vitest run` (CREATE DATABASE ... TEMPLATE is a file copy, far cheaper than
 * migrating). PGlite gets the same treatment: one migrated instance is dumped
 * once per run and every store loads that dump (creating a PGlite data dir
 * takes seconds; loading a dump well under one).
 *
 *   describe.each(DIALECTS)("%s", (dialect) => {
 *     let store: TestStore;
 *     beforeAll(async () => { store = await createTestStore(dialect); });
 *     afterAll(() => store.dispose());
 *   });
 *
 * Without the global setup (a script importing this file) the helpers still
 * work: they migrate each new database instead of copying a template.
 */
import { randomBytes } from "node:crypto";
import { existsSync, readdirSync } from "node:fs";
import { readFile, rename, writeFile } from "node:fs/promises";
import { hostname } from "node:os";
import { join } from "node:path";
import pg from "pg";
import type { PGlite } from "@electric-sql/pglite";
import { openStore, type Store } from "../../controller/store/db.js";

/**
 * The names of the migrations in controller/store/migrations/, in order: what
 * a fully migrated database lists in hodei_migrations (tests compare with it
 * rather than hard-coding the current list).
 */
export function migrationNames(): string[] {
  const dir = new URL("../../controller/store/migrations/", import.meta.url);
  return readdirSync(dir)
    .filter((f) => /^\d+_.+\.(ts|js)$/.test(f) && !f.endsWith(".d.ts"))
    .map((f) => f.replace(/\.(ts|js)$/, ""))
    .sort();
}

/** How global-setup.ts tells the test processes (forked after it ran) about this run. */
export const ENV = {
  /** Identifies the run in database names: `<pid of the vitest process>_<random>`. */
  runId: "HODEI_TEST_RUN_ID",
  /** The migrated template database, when PostgreSQL was reachable at setup. */
  template: "HODEI_TEST_TEMPLATE_DB",
  /** A directory for this run's files (the PGlite dump), removed at teardown. */
  runDir: "HODEI_TEST_RUN_DIR",
} as const;

/** Name prefixes, and the comment that records who created a database (see global-setup.ts). */
export const NAMES = {
  template: "hodei_template_",
  database: "hodei_t_",
  comment: "hodei test database ",
} as const;

let soloRunId: string | undefined;

/** `<pid of the process owning the run>_<random>`; without the global setup, this process owns it. */
export function runId(): string {
  return process.env[ENV.runId] ?? (soloRunId ??= `${process.pid}_${randomBytes(3).toString("hex")}`);
}

export function ownerComment(): string {
  return NAMES.comment + JSON.stringify({ hostname: hostname(), createdAt: new Date().toISOString() });
}

/** The PostgreSQL server the tests use, as a URL of its maintenance database. */
export function testDatabaseUrl(): string {
  return process.env.TEST_DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/postgres";
}

/** The URL of another database on the test server. */
export function databaseUrlFor(name: string): string {
  const url = new URL(testDatabaseUrl());
  url.pathname = `/${name}`;
  return url.href;
}

/** Runs `fn` on a short-lived connection to the server's maintenance database. */
export async function withAdminClient<T>(fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: testDatabaseUrl(), connectionTimeoutMillis: 10_000 });
  client.on("error", () => {}); // surfaced by the query that fails
  try {
    await client.connect();
  } catch (err) {
    throw new TestDatabaseError(
      `cannot reach the test PostgreSQL at ${testDatabaseUrl()}: start it (pg_ctlcluster 15 main start) or set TEST_DATABASE_URL`,
      { cause: err },
    );
  }
  try {
    return await fn(client);
  } finally {
    await client.end().catch(() => {});
  }
}

export class TestDatabaseError extends Error {
  override readonly name = "TestDatabaseError";
}

export const DIALECTS = ["postgres", "pglite"] as const;
export type Dialect = (typeof DIALECTS)[number];

export type TestStore = Store & {
  /** The database's URL (PostgreSQL only), for a controller process started by the test. */
  readonly url?: string;
  /** Closes the store and deletes its database. */
  dispose(): Promise<void>;
};

export interface TestDatabase {
  readonly url: string;
  readonly name: string;
  /** Drops the database, ending any connection still open to it (a killed controller's, say). */
  drop(): Promise<void>;
}

/**
 * A fresh PostgreSQL database of its own, for this test file or e2e scenario:
 * migrated (a copy of the template), or empty with `{ migrated: false }`.
 */
export async function createTestDatabase(opts: { migrated?: boolean } = {}): Promise<TestDatabase> {
  const migrated = opts.migrated ?? true;
  const template = migrated ? process.env[ENV.template] : undefined;
  const name = `${NAMES.database}${runId()}_${randomBytes(4).toString("hex")}`;
  await withAdminClient(async (client) => {
    // Identifiers cannot be parameters; names are ours ([a-z0-9_]) and quoted anyway.
    await client.query(`create database "${name}"${template ? ` template "${template}"` : ""}`);
    await client.query(`comment on database "${name}" is ${client.escapeLiteral(ownerComment())}`);
  });
  const url = databaseUrlFor(name);
  if (migrated && !template) {
    const store = await openStore({ databaseUrl: url });
    await store.close();
  }
  let dropped = false;
  return {
    url,
    name,
    drop: async () => {
      if (dropped) return;
      dropped = true;
      await withAdminClient((client) => client.query(`drop database if exists "${name}" with (force)`));
    },
  };
}

/** A migrated store of the given dialect, private to the caller. */
export async function createTestStore(dialect: Dialect): Promise<TestStore> {
  if (dialect === "postgres") {
    const database = await createTestDatabase();
    try {
      const store = await openStore({ databaseUrl: database.url, migrate: false });
      return {
        ...store,
        url: database.url,
        dispose: async () => {
          await store.close();
          await database.drop();
        },
      };
    } catch (err) {
      await database.drop();
      throw err;
    }
  }
  const pglite = await loadMigratedPglite();
  const store = await openStore({ pglite, migrate: false });
  return {
    ...store,
    dispose: async () => {
      await store.close();
      await pglite.close();
    },
  };
}

let pgliteDump: Promise<Blob> | undefined;

/** A new in-memory PGlite holding the migrated schema. */
async function loadMigratedPglite(): Promise<PGlite> {
  const { PGlite } = await import("@electric-sql/pglite");
  pgliteDump ??= migratedPgliteDump().catch((err: unknown) => {
    pgliteDump = undefined; // let the next caller try again
    throw err;
  });
  return PGlite.create({ loadDataDir: await pgliteDump });
}

/**
 * The dump of a freshly migrated PGlite, cached as a file in the run's
 * directory so the test files of one run (separate processes) migrate once.
 * Two files may race to write it; both write the same thing, atomically.
 */
async function migratedPgliteDump(): Promise<Blob> {
  const runDir = process.env[ENV.runDir];
  const file = runDir ? join(runDir, "pglite-migrated.tar") : undefined;
  if (file && existsSync(file)) return new Blob([await readFile(file)]);
  const { PGlite } = await import("@electric-sql/pglite");
  const pglite = await PGlite.create();
  try {
    const store = await openStore({ pglite });
    await store.close();
    const dump = await pglite.dumpDataDir("none");
    if (file) {
      const tmp = `${file}.${process.pid}.tmp`;
      await writeFile(tmp, new Uint8Array(await dump.arrayBuffer()));
      await rename(tmp, file);
    }
    return dump;
  } finally {
    await pglite.close();
  }
}
