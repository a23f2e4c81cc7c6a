/**
 * Once per `vitest run`, before any test process starts: a migrated template
 * database for test/helpers/db.ts to copy, and a directory for this run's
 * files. Databases and directories left by earlier runs whose vitest process
 * is gone (killed, crashed) are removed here, so they do not pile up.
 *
 * Several runs may share the server at once (engineers, CI jobs), so nothing
 * is dropped unless its owner is dead and nobody is connected to it. Every
 * name carries the run id `<pid of the owning process>_<random>`, and every
 * database a comment with the owner's host and start time, so a run on
 * another host sharing the server is not judged by our process table.
 *
 * PostgreSQL being down is not fatal here: unit tests still run, and the
 * first test that asks for a database fails saying how to start it.
 */
import { randomBytes } from "node:crypto";
import { mkdtemp, readFile, readdir, rm } from "node:fs/promises";
import { hostname, tmpdir } from "node:os";
import { join } from "node:path";
import type pg from "pg";
import { openStore } from "../../controller/store/db.js";
import { generateToken } from "../../controller/auth/tokens.js";
import { seedAgentJoinToken } from "./agent-auth.js";
import { ENV, NAMES, TestDatabaseError, databaseUrlFor, ownerComment, withAdminClient } from "./db.js";

const TEMPLATE_PREFIX = NAMES.template;
const DB_PREFIX = NAMES.database;
const COMMENT_PREFIX = NAMES.comment;
// A run on another host is only judged by age; no test run lasts this long.
const FOREIGN_MAX_AGE_MS = 24 * 3600_000;

export default async function setup(): Promise<() => Promise<void>> {
  const runId = `${process.pid}_${randomBytes(3).toString("hex")}`;
  await removeStaleRunDirs();
  const runDir = await mkdtemp(join(tmpdir(), `hodei-test-${runId}-`));
  process.env[ENV.runId] = runId;
  process.env[ENV.runDir] = runDir;
  // Access control stays on in tests: every controller these tests start (in
  // process or as a child) seeds this admin token, and every client (the CLI,
  // ControlClient) sends it. Tests of access itself make their own tokens.
  const admin = generateToken();
  process.env.HODEI_ADMIN_TOKEN = admin;
  process.env.HODEI_TOKEN = admin;
  // No test reads the user's own contexts (cli/contexts.ts): their config dir is this run's.
  process.env.HODEI_CONFIG_DIR = join(runDir, "config");
  // Likewise agents: controllers seed this join token, agents present it (agent-auth.ts).
  seedAgentJoinToken();
  try {
    await dropStaleDatabases();
    process.env[ENV.template] = await createTemplate(runId);
  } catch (err) {
    if (!(err instanceof TestDatabaseError)) throw err;
    console.warn(`[global-setup] ${err.message}; tests that need PostgreSQL will fail`);
  }
  return async () => {
    await stopRunDaemons(runId);
    if (process.env[ENV.template]) await dropRunDatabases(runId);
    await rm(runDir, { recursive: true, force: true });
  };
}

async function createTemplate(runId: string): Promise<string> {
  const name = `${TEMPLATE_PREFIX}${runId}`;
  await withAdminClient(async (client) => {
    await client.query(`create database "${name}"`);
    await client.query(`comment on database "${name}" is ${client.escapeLiteral(ownerComment())}`);
  });
  try {
    const store = await openStore({ databaseUrl: databaseUrlFor(name) });
    await store.close();
    // No one may connect to a template while it is copied; forbidding it
    // outright turns a stray connection into an error here, not a flaky copy.
    await withAdminClient((client) => client.query(`alter database "${name}" allow_connections false`));
  } catch (err) {
    await withAdminClient((client) => client.query(`drop database if exists "${name}" with (force)`));
    throw err;
  }
  return name;
}

interface DatabaseRow {
  name: string;
  comment: string | null;
  connections: number;
}

async function listTestDatabases(client: pg.Client): Promise<DatabaseRow[]> {
  const r = await client.query<DatabaseRow>(
    `select d.datname as name, shobj_description(d.oid, 'pg_database') as comment,
            (select count(*)::int from pg_stat_activity a where a.datid = d.oid) as connections
     from pg_database d where d.datname like $1 or d.datname like $2`,
    [`${TEMPLATE_PREFIX.replaceAll("_", "\\_")}%`, `${DB_PREFIX.replaceAll("_", "\\_")}%`],
  );
  return r.rows;
}

/** The pid that owns a database, from its name: `..._<pid>_<random>[_<random>]`. */
function ownerPid(name: string): number | undefined {
  const rest = name.startsWith(TEMPLATE_PREFIX) ? name.slice(TEMPLATE_PREFIX.length) : name.slice(DB_PREFIX.length);
  const pid = Number(/^(\d+)_/.exec(rest)?.[1]);
  return Number.isInteger(pid) && pid > 0 ? pid : undefined;
}

function isStale(row: DatabaseRow): boolean {
  if (row.connections > 0) return false;
  let owner: { hostname?: unknown; createdAt?: unknown } = {};
  if (row.comment?.startsWith(COMMENT_PREFIX)) {
    try {
      owner = JSON.parse(row.comment.slice(COMMENT_PREFIX.length)) as typeof owner;
    } catch {
      // unreadable comment: judged by name alone, as on this host
    }
  }
  if (typeof owner.hostname === "string" && owner.hostname !== hostname()) {
    const created = typeof owner.createdAt === "string" ? Date.parse(owner.createdAt) : NaN;
    return Date.now() - created > FOREIGN_MAX_AGE_MS;
  }
  const pid = ownerPid(row.name);
  return pid !== undefined && !isAlive(pid);
}

async function dropStaleDatabases(): Promise<void> {
  await withAdminClient(async (client) => {
    for (const row of await listTestDatabases(client)) {
      if (!isStale(row)) continue;
      // Without FORCE: if someone connected since we looked, the drop fails and the database stays.
      await client.query(`drop database if exists "${row.name}"`).catch(() => {});
    }
  });
}

/** At teardown: this run's databases, even if a test left a connection open. */
async function dropRunDatabases(runId: string): Promise<void> {
  await withAdminClient(async (client) => {
    const mine = (await listTestDatabases(client)).filter(
      (row) => row.name === `${TEMPLATE_PREFIX}${runId}` || row.name.startsWith(`${DB_PREFIX}${runId}_`),
    );
    // Copies first: a template cannot be dropped while a copy is being made from it.
    mine.sort((a, b) => Number(a.name.startsWith(TEMPLATE_PREFIX)) - Number(b.name.startsWith(TEMPLATE_PREFIX)));
    for (const row of mine) await client.query(`drop database if exists "${row.name}" with (force)`);
  });
}

/**
 * Embedded daemons that this run's tests started (`hodei` on the embedded
 * default, each with its own HODEI_DATA_DIR) and left running: they inherit
 * the run id in their environment, which is how they are found (Linux /proc).
 * SIGTERM, as `hodei embedded stop` sends; SIGKILL if one is still there after 15 s.
 */
async function stopRunDaemons(runId: string): Promise<void> {
  const mark = `\0${ENV.runId}=${runId}\0`;
  const ours: number[] = [];
  for (const name of await readdir("/proc").catch(() => [] as string[])) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const cmdline = await readFile(`/proc/${name}/cmdline`, "utf8");
      if (!cmdline.includes("\0embedded\0serve")) continue;
      if (`\0${await readFile(`/proc/${name}/environ`, "utf8")}`.includes(mark)) ours.push(Number(name));
    } catch {
      // gone meanwhile, or not ours to read
    }
  }
  for (const pid of ours) process.kill(pid, "SIGTERM");
  for (let waited = 0; ours.some(isAlive) && waited < 15_000; waited += 100) await new Promise((res) => setTimeout(res, 100));
  for (const pid of ours.filter(isAlive)) process.kill(pid, "SIGKILL");
}

async function removeStaleRunDirs(): Promise<void> {
  for (const entry of await readdir(tmpdir())) {
    const pid = Number(/^hodei-test-(\d+)_/.exec(entry)?.[1]);
    if (pid > 0 && !isAlive(pid)) await rm(join(tmpdir(), entry), { recursive: true, force: true });
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}
