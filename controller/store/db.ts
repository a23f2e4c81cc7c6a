import { Kysely, PostgresDialect, sql } from "kysely";
import pg from "pg";
import { existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import type { PGlite } from "@electric-sql/pglite";
import type { Database } from "./schema.js";
import { migrateToLatest } from "./migrate.js";
import { seedFromTemplate, TEMPLATE_DIR } from "./template.js";
import { InProcessBus, type Bus } from "../bus/bus.js";
import { PostgresBus } from "../bus/postgres.js";
import type { HodeiEvent } from "../bus/events.js";

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
  /**
   * A fresh PGlite data dir starts as a copy of this one (default: the build's
   * dist/pglite-template, when there); false: always initdb.
   */
  template?: string | false;
  /** Apply migrations on open (default true). */
  migrate?: boolean;
  /** How long the startup connection check waits for PostgreSQL (default 10 s). */
  connectTimeoutMs?: number;
  /**
   * How run changes are announced: "postgres" (LISTEN/NOTIFY, heard by every
   * process on the database; the default on PostgreSQL) or "in-process" (the
   * default on PGlite, whose notifications never leave its process).
   */
  bus?: "postgres" | "in-process";
  /** Told when a bus listener throws (it never breaks the write that announced). */
  onListenerError?: (err: unknown, ev: HodeiEvent) => void;
  /** Told when the bus's listening connection is lost or back. */
  onBusConnectionChange?: (up: boolean, err?: unknown) => void;
}

/** The two dialects share every query; this is the one place they differ. */
export interface Store {
  readonly db: Db;
  readonly dialect: "postgres" | "pglite";
  /** Where every write that changes a run announces it (controller/store/notify.ts). */
  readonly bus: Bus;
  /** A PGlite data dir created by this open: copied from the template, or by initdb. */
  readonly created?: "template" | "initdb";
  close(): Promise<void>;
}

// int8 and numeric come back as strings by default; our bigint columns are ids,
// sequences and millisecond timestamps, all below 2^53, so parse them as numbers
// where we read them (see queries) rather than globally mutating pg's parsers.

/**
 * PostgreSQL settings for an embedded (PGlite) database. PGlite keeps PostgreSQL's
 * 128 MB of shared buffers, all of it resident in the process once started;
 * one embedded controller's working set needs a fraction of that (and the OS
 * caches the data files anyway): 16 MB cuts the daemon's memory by about 120 MB.
 */
export const PGLITE_SETTINGS: readonly string[] = ["shared_buffers=16MB"];

export async function openStore(opts: StoreOptions): Promise<Store> {
  let store: Store;
  if (opts.databaseUrl) {
    // Fail at startup with a message that says what to fix, rather than on the
    // first query with a bare ECONNREFUSED (or never, on a black-holed host).
    await checkConnection(parseDatabaseUrl(opts.databaseUrl), opts.connectTimeoutMs ?? 10_000);
    const pool = new pg.Pool({ connectionString: opts.databaseUrl, max: opts.poolSize ?? 10 });
    // An idle client that loses its server emits 'error'; without a listener the process dies.
    pool.on("error", () => {});
    // A client checked out when the server dies emits 'error' on itself, not on the pool:
    // without a listener that crashes the controller (seen when PostgreSQL restarts mid-run).
    pool.on("connect", (client) => client.on("error", () => {}));
    const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
    const bus: Bus =
      opts.bus === "in-process"
        ? new InProcessBus(opts.onListenerError)
        : new PostgresBus({
            connectionString: opts.databaseUrl,
            notify: async (channel, payload) => void (await sql`select pg_notify(${channel}, ${payload})`.execute(db)),
            onListenerError: opts.onListenerError,
            onConnectionChange: opts.onBusConnectionChange,
          });
    store = {
      db,
      dialect: "postgres",
      bus,
      close: async () => {
        await bus.close();
        await db.destroy();
      },
    };
  } else {
    const { PGlite } = await import("@electric-sql/pglite");
    const { createPgConfig } = await import("@electric-sql/pglite/node-postgres");
    let pglite = opts.pglite;
    const owned = !pglite;
    let created: Store["created"];
    if (!pglite) {
      if (!opts.dataDir) throw new Error("openStore needs databaseUrl, dataDir or pglite");
      if (opts.template !== false && (await seedFromTemplate(opts.dataDir, opts.template ?? TEMPLATE_DIR))) created = "template";
      else if (!existsSync(join(opts.dataDir, "PG_VERSION"))) created = "initdb";
      mkdirSync(opts.dataDir, { recursive: true });
      pglite = await PGlite.create(opts.dataDir, { startParams: [...PGlite.defaultStartParams, ...PGLITE_SETTINGS.flatMap((c) => ["-c", c])] });
    }
    // PGlite runs one query at a time: exactly one pool of size 1 for all SQL (see docs/architecture.md).
    const pool = new pg.Pool({ ...createPgConfig(pglite), max: 1 } as unknown as pg.PoolConfig);
    const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
    const instance = pglite;
    const bus = new InProcessBus(opts.onListenerError);
    store = {
      db,
      dialect: "pglite",
      bus,
      created,
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

/** The database URL cannot be a PostgreSQL URL; nothing was contacted. */
export class DatabaseUrlError extends Error {
  override readonly name = "DatabaseUrlError";
}

/** PostgreSQL could not be reached or refused us; the message says what to check. */
export class DatabaseConnectError extends Error {
  override readonly name = "DatabaseConnectError";
  constructor(
    message: string,
    readonly code: string | undefined,
    options: { cause: unknown },
  ) {
    super(message, options);
  }
}

/** The URL with its password masked, for messages and logs. */
export function redactUrl(url: URL | string): string {
  if (typeof url === "string") return url.replace(/\/\/([^:@/]*):[^@/]*@/, "//$1:***@");
  const copy = new URL(url.href);
  if (copy.password) copy.password = "***";
  return copy.href;
}

export function parseDatabaseUrl(raw: string): URL {
  const expected = "expected postgres://USER:PASSWORD@HOST:PORT/DATABASE";
  let url: URL;
  try {
    url = new URL(raw);
  } catch (err) {
    throw new DatabaseUrlError(`the database URL ${JSON.stringify(redactUrl(raw))} is not a URL; ${expected}`, { cause: err });
  }
  if (url.protocol !== "postgres:" && url.protocol !== "postgresql:") {
    throw new DatabaseUrlError(`the database URL ${JSON.stringify(redactUrl(url))} is not a PostgreSQL URL; ${expected}`);
  }
  return url;
}

/** One throwaway connection (not the pool) so a timeout can apply to it alone. */
async function checkConnection(url: URL, timeoutMs: number): Promise<void> {
  const client = new pg.Client({ connectionString: url.href, connectionTimeoutMillis: timeoutMs });
  client.on("error", () => {}); // reported through connect()/query() instead
  // Set before connect() arms pg's own timer of the same length, so it fires first.
  let timedOut = false;
  const timer = setTimeout(() => (timedOut = true), timeoutMs);
  try {
    await client.connect();
    await client.query("select 1");
  } catch (err) {
    // pg reports its own connect timeout as "Connection terminated unexpectedly".
    throw connectError(err, url, timedOut ? timeoutMs : undefined);
  } finally {
    clearTimeout(timer);
    await client.end().catch(() => {});
  }
}

function connectError(err: unknown, url: URL, timedOutAfterMs: number | undefined): DatabaseConnectError {
  const code = typeof err === "object" && err !== null ? (err as { code?: unknown }).code : undefined;
  const text = err instanceof Error ? err.message : String(err);
  // A Unix socket directory comes as ?host=/path (postgres:///db?host=/var/run/postgresql).
  const where = `${url.hostname || url.searchParams.get("host") || "localhost"}:${url.port || url.searchParams.get("port") || "5432"}`;
  const user = decode(url.username) || "(default)";
  const database = decode(url.pathname.slice(1)) || user; // libpq's default database is the user name
  let advice: string;
  switch (timedOutAfterMs !== undefined ? "timeout" : typeof code === "string" ? code : "") {
    case "timeout":
      advice = `no answer from ${where} within ${timedOutAfterMs} ms: check the host, port and any firewall in between`;
      break;
    case "ECONNREFUSED":
      advice = `nothing accepts connections at ${where}: check that PostgreSQL is running and the host and port in the database URL`;
      break;
    case "ENOENT":
      advice = `no server socket at ${where} (${text}): check that PostgreSQL is running and the socket directory in the database URL`;
      break;
    case "ENOTFOUND":
    case "EAI_AGAIN":
      advice = `host "${url.hostname}" cannot be resolved: check the host name in the database URL`;
      break;
    case "3D000":
      advice = `database "${database}" does not exist on ${where}: create it (createdb ${database}) or fix the database name in the URL`;
      break;
    case "28000":
    case "28P01":
      advice = `authentication failed for user "${user}" (${text}): check the user and password in the database URL and the server's pg_hba.conf`;
      break;
    case "57P03":
      advice = `the server at ${where} is starting up or shutting down: try again shortly`;
      break;
    case "53300":
      advice = `the server at ${where} has too many connections: lower the pool sizes of its clients or raise max_connections`;
      break;
    default:
      advice = /terminated unexpectedly/.test(text)
        ? `${where} closed the connection during startup: check that it is a PostgreSQL server (the port?) that accepts this client (pg_hba.conf, SSL)`
        : `${text}: check the database URL and that the server at ${where} accepts this client`;
  }
  const c = typeof code === "string" ? code : undefined;
  return new DatabaseConnectError(`cannot connect to PostgreSQL at ${redactUrl(url)}: ${advice}`, c, { cause: err });
}

function decode(part: string): string {
  try {
    return decodeURIComponent(part);
  } catch {
    return part; // a malformed %-escape: show it as written
  }
}
