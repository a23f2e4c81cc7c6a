import { Kysely, PostgresDialect } from "kysely";
import pg from "pg";
import { mkdirSync } from "node:fs";
import type { PGlite } from "@electric-sql/pglite";
import type { Database } from "./schema.js";
import { migrateToLatest } from "./migrate.js";

export type Db = Kysely<Database>;

export interface StoreOptions {
  /** postgres://… for PostgreSQL. */
  databaseUrl?: string;
  /** Directory of an embedded PGlite database (created if missing). */
  dataDir?: string;
  /** An already-open PGlite instance (tests clone a migrated one). */
  pglite?: PGlite;
  /** Connections in the pg pool (PostgreSQL only). */
  poolSize?: number;
  /** Apply migrations on open (default true). */
  migrate?: boolean;
}

/** The two dialects share every query; this is the one place they differ. */
export interface Store {
  readonly db: Db;
  readonly dialect: "postgres" | "pglite";
  close(): Promise<void>;
}

// int8 and numeric come back as strings by default; our bigint columns are ids,
// sequences and millisecond timestamps, all below 2^53, so parse them as numbers
// where we read them (see queries) rather than globally mutating pg's parsers.

export async function openStore(opts: StoreOptions): Promise<Store> {
  let store: Store;
  if (opts.databaseUrl) {
    const pool = new pg.Pool({ connectionString: opts.databaseUrl, max: opts.poolSize ?? 10 });
    // An idle client that loses its server emits 'error'; without a listener the process dies.
    pool.on("error", () => {});
    const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
    store = { db, dialect: "postgres", close: () => db.destroy() };
  } else {
    const { PGlite } = await import("@electric-sql/pglite");
    const { createPgConfig } = await import("@electric-sql/pglite/node-postgres");
    let pglite = opts.pglite;
    const owned = !pglite;
    if (!pglite) {
      if (!opts.dataDir) throw new Error("openStore needs databaseUrl, dataDir or pglite");
      mkdirSync(opts.dataDir, { recursive: true });
      pglite = await PGlite.create(opts.dataDir);
    }
    // PGlite runs one query at a time: exactly one pool of size 1 for all SQL (see docs/architecture.md).
    const pool = new pg.Pool({ ...createPgConfig(pglite), max: 1 } as unknown as pg.PoolConfig);
    const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
    const instance = pglite;
    store = {
      db,
      dialect: "pglite",
      close: async () => {
        await db.destroy();
        if (owned) await instance.close();
      },
    };
  }
  if (opts.migrate !== false) {
    try {
      await migrateToLatest(store.db as unknown as Kysely<unknown>);
    } catch (err) {
      await store.close();
      throw err;
    }
  }
  return store;
}
