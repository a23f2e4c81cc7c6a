/**
 * A private PostgreSQL server for one test file: its own data directory,
 * port and socket directory, so a test may stop it (fast, or immediate: a
 * crash as far as clients can tell) and start it again without touching the
 * shared server on 5432 that the other tests use.
 *
 *   const pg = await startPgServer();
 *   const url = await pg.createDatabase("hodei");
 *   ...
 *   await pg.stop({ mode: "immediate" });
 *   await pg.start();                       // same port, same data
 *   ...
 *   await pg.dispose();                     // stops it and deletes its files
 *
 * initdb and pg_ctl refuse to run as root; as root we run them as the
 * `postgres` OS user (`runuser -u postgres --`, falling back to
 * `su postgres -c`) with the data directory chowned to it. The binaries are
 * found under /usr/lib/postgresql/<highest version>/bin, or PG_BIN_DIR.
 * Authentication is `trust` on 127.0.0.1 and the socket; fsync is off (a
 * stopped server's writes are in the page cache; only an OS crash would lose
 * them, and no test crashes the OS).
 */
import { execFile, spawnSync } from "node:child_process";
import { chownSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";

export type StopMode = "smart" | "fast" | "immediate";

export interface PgServer {
  readonly port: number;
  /** URL of the maintenance database `postgres` (user postgres, trust auth). */
  readonly url: string;
  readonly dataDir: string;
  /** The server's own log (pg_ctl -l): every start appends to it. */
  readonly logFile: string;
  /** Whether the test last started (true) or stopped (false) it. */
  readonly running: boolean;
  /** The URL of another database on this server. */
  urlFor(database: string): string;
  /** Creates a database (if it does not exist) and returns its URL. */
  createDatabase(name: string): Promise<string>;
  /** pg_ctl stop -m MODE (default fast), waiting until the server is gone. */
  stop(opts?: { mode?: StopMode }): Promise<void>;
  /** pg_ctl start on the same port, waiting until it accepts connections. */
  start(): Promise<void>;
  /** Stops the server (immediate) if it runs and deletes its files. */
  dispose(): Promise<void>;
}

/** The directory holding initdb and pg_ctl: PG_BIN_DIR, else the highest /usr/lib/postgresql/N/bin. */
export function postgresBinDir(): string {
  const fromEnv = process.env.PG_BIN_DIR;
  if (fromEnv) return fromEnv;
  const root = "/usr/lib/postgresql";
  const versions = existsSync(root)
    ? readdirSync(root)
        .filter((v) => existsSync(join(root, v, "bin", "initdb")))
        .sort((a, b) => Number.parseFloat(b) - Number.parseFloat(a))
    : [];
  if (versions.length === 0) throw new Error(`no PostgreSQL server binaries under ${root}/*/bin (install postgresql, or set PG_BIN_DIR)`);
  return join(root, versions[0]!, "bin");
}

interface OsUser {
  name: string;
  uid: number;
  gid: number;
}

/** The OS user the server runs as: ourselves, or `postgres` when we are root. */
function serverUser(): OsUser | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const line = readFileSync("/etc/passwd", "utf8")
    .split("\n")
    .find((l) => l.startsWith("postgres:"));
  const fields = line?.split(":");
  if (!fields || fields.length < 4) throw new Error("running as root and there is no `postgres` OS user to run initdb/pg_ctl as");
  return { name: "postgres", uid: Number(fields[2]), gid: Number(fields[3]) };
}

function shellQuote(s: string): string {
  return `'${s.replaceAll("'", `'\\''`)}'`;
}

/** argv that runs `file args` as `user` (or as ourselves): runuser if it exists, else su -c. */
function asUser(user: OsUser | undefined, file: string, args: string[]): [string, string[]] {
  if (!user) return [file, args];
  if (existsSync("/usr/sbin/runuser") || existsSync("/sbin/runuser") || existsSync("/usr/bin/runuser")) return ["runuser", ["-u", user.name, "--", file, ...args]];
  return ["su", [user.name, "-s", "/bin/sh", "-c", [file, ...args].map(shellQuote).join(" ")]];
}

function run(user: OsUser | undefined, file: string, args: string[], timeoutMs = 120_000): Promise<string> {
  const [cmd, argv] = asUser(user, file, args);
  return new Promise((resolve, reject) => {
    // cwd: the server user may not be allowed into ours.
    execFile(cmd, argv, { cwd: "/", timeout: timeoutMs, env: { ...process.env, LC_ALL: "C" } }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${[file, ...args].join(" ")} failed: ${err.message}\n${stdout}${stderr}`, { cause: err }));
      else resolve(stdout + stderr);
    });
  });
}

/** A free TCP port on 127.0.0.1 (free now; the server binds it right after). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const addr = srv.address();
      srv.close(() => (typeof addr === "object" && addr ? resolve(addr.port) : reject(new Error("no port"))));
    });
  });
}

/** Servers this process started and has not disposed of: stopped if the process exits without dispose(). */
const live = new Set<{ kill(): void }>();
let exitHookInstalled = false;
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once("exit", () => {
    for (const s of live) s.kill();
  });
}

/** initdb into a fresh temp dir and start the server on a free port. */
export async function startPgServer(opts: { settings?: Record<string, string> } = {}): Promise<PgServer> {
  const bin = postgresBinDir();
  const user = serverUser();
  const root = mkdtempSync(join(tmpdir(), "hodei-pg-"));
  const dataDir = join(root, "data");
  const sockDir = join(root, "sock");
  const logFile = join(root, "postgres.log");
  mkdirSync(sockDir);
  if (user) {
    chownSync(root, user.uid, user.gid);
    chownSync(sockDir, user.uid, user.gid);
  }
  try {
    await run(user, join(bin, "initdb"), ["-D", dataDir, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync"]);
  } catch (err) {
    rmSync(root, { recursive: true, force: true });
    throw err;
  }
  const settings: Record<string, string> = { listen_addresses: "127.0.0.1", fsync: "off", full_page_writes: "off", max_connections: "200", ...opts.settings };
  const pgCtl = join(bin, "pg_ctl");
  let port = 0;
  let running = false;

  const serverOptions = (): string =>
    [`-p ${port}`, `-k ${sockDir}`, ...Object.entries(settings).map(([k, v]) => `-c ${k}=${v}`)].join(" ");
  const ctlStart = (): Promise<string> => run(user, pgCtl, ["-D", dataDir, "-l", logFile, "-o", serverOptions(), "-w", "-t", "60", "start"]);

  // Port races (another process took it between freePort() and the bind) get a new port, only on the first start.
  for (let tries = 1; ; tries++) {
    port = await freePort();
    try {
      await ctlStart();
      break;
    } catch (err) {
      if (tries >= 3) {
        rmSync(root, { recursive: true, force: true });
        throw err;
      }
    }
  }
  running = true;
  const killer = {
    kill: () => {
      const [cmd, argv] = asUser(user, pgCtl, ["-D", dataDir, "-m", "immediate", "-w", "stop"]);
      spawnSync(cmd, argv, { cwd: "/", stdio: "ignore", timeout: 30_000 });
      rmSync(root, { recursive: true, force: true });
    },
  };
  live.add(killer);
  installExitHook();

  const url = `postgres://postgres@127.0.0.1:${port}/postgres`;
  const urlFor = (database: string): string => {
    const u = new URL(url);
    u.pathname = `/${database}`;
    return u.href;
  };

  const server: PgServer = {
    port,
    url,
    dataDir,
    logFile,
    get running() {
      return running;
    },
    urlFor,
    createDatabase: async (name) => {
      if (!/^[a-z_][a-z0-9_]*$/.test(name)) throw new Error(`database name ${JSON.stringify(name)}: use [a-z0-9_]`);
      const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 10_000 });
      client.on("error", () => {});
      await client.connect();
      try {
        const exists = await client.query("select 1 from pg_database where datname = $1", [name]);
        if (exists.rowCount === 0) await client.query(`create database "${name}"`);
      } finally {
        await client.end().catch(() => {});
      }
      return urlFor(name);
    },
    stop: async ({ mode = "fast" } = {}) => {
      await run(user, pgCtl, ["-D", dataDir, "-m", mode, "-w", "-t", "60", "stop"]);
      running = false;
    },
    start: async () => {
      await ctlStart();
      running = true;
    },
    dispose: async () => {
      if (!live.has(killer)) return;
      live.delete(killer);
      if (running) await run(user, pgCtl, ["-D", dataDir, "-m", "immediate", "-w", "stop"]).catch(() => {});
      running = false;
      rmSync(root, { recursive: true, force: true });
    },
  };
  return server;
}

