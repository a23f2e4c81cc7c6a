/**
 * The embedded controller: with no controller configured, every `hodei`
 * command uses a small per-user daemon for the data dir. The first command
 * starts it (`hodei embedded serve`, detached from the terminal in its own
 * session, output to daemon.log); later ones find it through the data-dir lock,
 * which records its address. The daemon runs the controller on PGlite and one
 * local agent, listens only on a unix socket inside the data dir (dir 0700,
 * socket 0600: only its owner can reach it), and exits by itself after
 * HODEI_EMBEDDED_IDLE (default 10m) with no run to do and no client call.
 * No terminal's exit, Ctrl-C or kill -9 touches it, nor another terminal's run.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { chmodSync, closeSync, existsSync, mkdirSync, openSync, readFileSync, statSync, unlinkSync, writeFileSync } from "node:fs";
import { homedir, hostname, availableParallelism } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { acquireDataDirLock, lockPathFor } from "../controller/datadir-lock.js";
import type { Controller } from "../controller/server.js";
import type { Store } from "../controller/store/db.js";
import type { countClaimable as CountClaimable } from "../controller/store/runs.js";
import { parseDuration } from "../schemas/durations.js";
import { CliError, UsageError } from "./errors.js";

/** The user's data directory, as XDG and macOS define it. */
export function defaultDataDir(): string {
  if (process.env.HODEI_DATA_DIR) return process.env.HODEI_DATA_DIR;
  if (process.env.XDG_DATA_HOME) return join(process.env.XDG_DATA_HOME, "hodei");
  if (process.platform === "darwin") return join(homedir(), "Library", "Application Support", "hodei");
  return join(homedir(), ".local", "share", "hodei");
}

export const DEFAULT_IDLE = "10m";
/** How long the daemon may wait for a first client to reach it after a fresh start. */
const START_TIMEOUT_MS = 60_000;
// sun_path holds 108 bytes on Linux, 104 on macOS.
const MAX_SOCKET_PATH = 103;
/** On stop, how long running jobs get to finish before the agent cancels them. */
const AGENT_DRAIN_MS = 5_000;
const BIN = fileURLToPath(new URL("../../bin/run.js", import.meta.url));

/**
 * The daemon starts its agent beside its controller rather than after it (the
 * two start-ups overlap); the agent dials when this IPC message says the
 * controller listens.
 */
export const DIAL_ON_MESSAGE = "HODEI_AGENT_DIAL_ON_MESSAGE";
export const CONTROLLER_LISTENING = "controller-listening";

/**
 * V8 flags of the daemon. --liftoff-only: PGlite's WebAssembly stays in V8's
 * baseline tier instead of being recompiled by the optimising one as it runs;
 * measured here, the daemon's resident memory after a few runs drops by
 * 20–50 MB (from ~215–240 MB), with no measurable change in a warm run's time
 * (npm run bench:embedded reports both).
 */
const DAEMON_NODE_FLAGS = ["--liftoff-only"];
/**
 * The daemon's agent: V8's young generation capped at 1 MB semi-spaces rather
 * than 16; an idle agent measured ~78 MB resident instead of ~100.
 */
const AGENT_NODE_FLAGS = ["--max-semi-space-size=1"];

export const dbDirOf = (dataDir: string): string => join(dataDir, "db");
export const socketOf = (dataDir: string): string => join(dataDir, "controller.sock");
export const daemonLogOf = (dataDir: string): string => join(dataDir, "daemon.log");
/** The embedded daemon's admin token (0600 in the 0700 data dir): the owner's CLI reads it, nobody else can. */
export const tokenFileOf = (dataDir: string): string => join(dataDir, "admin.token");

/** HODEI_EMBEDDED_IDLE in milliseconds: a duration such as `10m`, `30s`, `0` (never idle out is not offered). */
export function idleMs(): number {
  const raw = process.env.HODEI_EMBEDDED_IDLE || DEFAULT_IDLE;
  try {
    return parseDuration(raw);
  } catch (err) {
    throw new UsageError(`HODEI_EMBEDDED_IDLE: ${(err as Error).message}`);
  }
}

/** Creates the data dir owner-only (0700), and refuses one that belongs to someone else. */
export function prepareDataDir(dataDir: string): void {
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const st = statSync(dataDir);
  const uid = process.getuid?.();
  if (uid !== undefined && st.uid !== uid) {
    throw new CliError(`the data dir ${dataDir} belongs to another user (uid ${st.uid}); set HODEI_DATA_DIR to a directory of your own`);
  }
  if ((st.mode & 0o077) !== 0) chmodSync(dataDir, 0o700);
  if (socketOf(dataDir).length > MAX_SOCKET_PATH) {
    throw new CliError(`the data dir path ${dataDir} is too long for the embedded controller's unix socket; set HODEI_DATA_DIR to a shorter path`);
  }
}

export interface DaemonInfo {
  pid: number;
  /** ISO time the daemon took the data dir. */
  startedAt: string;
  /** Its gRPC address (unix:…), once it listens. */
  address?: string;
}

/** The daemon serving this data dir, if one is alive (per its lock file). */
export function findDaemon(dataDir: string): DaemonInfo | undefined {
  let info: DaemonInfo;
  try {
    info = JSON.parse(readFileSync(lockPathFor(dbDirOf(dataDir)), "utf8")) as DaemonInfo;
  } catch {
    return undefined;
  }
  if (!Number.isInteger(info.pid) || info.pid <= 0 || !alive(info.pid)) return undefined;
  return info;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

/**
 * How to start the daemon: a program and its arguments before `embedded
 * serve`. This package's own bin by default; the GitHub Action (action/)
 * passes the `hodei` it found, having no bin of its own.
 */
export interface DaemonStart {
  command?: readonly string[];
  /** How long to wait for it to publish its address (default 60 s; more when `npx` must install hodei first). */
  timeoutMs?: number;
}

/** The address of the data dir's daemon, starting it when none runs. */
export async function ensureDaemon(dataDir: string, start: DaemonStart = {}): Promise<string> {
  prepareDataDir(dataDir);
  const found = findDaemon(dataDir);
  if (found?.address) return found.address;
  let child: ChildProcess | undefined;
  const [program, ...args] = start.command ?? [process.execPath, ...DAEMON_NODE_FLAGS, BIN];
  if (!found) {
    const log = openSync(daemonLogOf(dataDir), "a", 0o600);
    child = spawn(program!, [...args, "embedded", "serve"], {
      detached: true,
      stdio: ["ignore", log, log],
      env: { ...process.env, HODEI_DATA_DIR: dataDir, HODEI_CONTROLLER: "" },
    });
    closeSync(log);
    child.unref();
  }
  // Ours or one another hodei started a moment ago: wait until it publishes its address.
  let exited: number | null | undefined;
  child?.once("exit", (code) => (exited = code));
  child?.once("error", () => (exited = -1)); // the program could not be started: fail below, do not crash
  for (let waited = 0; waited < (start.timeoutMs ?? START_TIMEOUT_MS); waited += 50) {
    const d = findDaemon(dataDir);
    if (d?.address) return d.address;
    // It lost the race to another daemon (exit 0) and that one is not up yet: keep waiting. Otherwise it failed.
    if (exited !== undefined && exited !== 0) break;
    await new Promise((res) => setTimeout(res, 50));
  }
  throw new CliError(`the embedded controller for ${dataDir} did not start; see ${daemonLogOf(dataDir)}`);
}

/**
 * The daemon itself (`hodei embedded serve`): controller, local agent, idle
 * clock. Resolves when it has stopped, after SIGTERM/SIGINT/SIGHUP or idling.
 */
export async function serveDaemon(dataDir: string): Promise<void> {
  prepareDataDir(dataDir);
  const idle = idleMs();
  const dbDir = dbDirOf(dataDir);
  const r = await acquireDataDirLock(dbDir);
  if (!r.held) {
    process.stderr.write(`${new Date().toISOString()} another process (${r.pid}) serves ${dataDir}; exiting\n`);
    return;
  }
  const lock = r.lock;
  const socket = socketOf(dataDir);
  // A socket left by a daemon that died: we hold the lock, so nobody else listens there.
  if (existsSync(socket)) unlinkSync(socket);
  const logFile = openSync(join(dataDir, "controller.log"), "a", 0o600);
  let lastCall = Date.now();
  // Streams still open (a `hodei watch`, a `hodei logs -f`): the daemon is in use while any is.
  let openStreams = 0;
  const onClientCall = (call: unknown): void => {
    lastCall = Date.now();
    const c = call as { write?: unknown; once?: (ev: string, fn: () => void) => void } | undefined;
    if (typeof c?.write !== "function" || typeof c.once !== "function") return;
    openStreams += 1;
    let done = false;
    const end = (): void => {
      if (done) return;
      done = true;
      openStreams -= 1;
      lastCall = Date.now();
    };
    for (const ev of ["close", "cancelled", "finish"]) c.once(ev, end);
  };
  let controller: Controller;
  // Three start-ups overlap: the database's (a copy of the template when new, then PGlite), the
  // controller's modules loading, and the agent's process (it dials once told the controller
  // listens). Loaded here, not at the top: every command imports this module to find the daemon,
  // only the daemon runs it.
  const { pino } = await import("pino");
  const logger = pino({ name: "controller", level: "info" }, pino.destination(logFile));
  const opening = import("../controller/store/db.js").then((db) =>
    db.openStore({ dataDir: dbDir, onListenerError: (err, ev) => logger.error({ err, event: ev.type }, "an event listener failed") }),
  );
  opening.catch(() => {}); // awaited below
  const labels = `os=${process.platform},arch=${process.arch},host=${hostname()}`;
  // Its agent joins with a join token made for this start (a file in the 0700 data dir, not the
  // environment); once joined it comes back with the credential it keeps in its work dir.
  const agentJoinToken = randomBytes(32).toString("hex");
  const joinTokenFile = join(dataDir, "agent-join.token");
  writeFileSync(joinTokenFile, `${agentJoinToken}\n`, { mode: 0o600 });
  const agentLog = openSync(join(dataDir, "agent.log"), "a", 0o600);
  const agent = spawn(
    process.execPath,
    [...AGENT_NODE_FLAGS, BIN, "agent", "--controller", `unix:${socket}`, "--name", `local-${hostname()}`, "--labels", labels, "--slots", String(availableParallelism()), "--work-dir", join(dataDir, "work"), "--token-file", joinTokenFile, "--allow-in-place"],
    // The IPC channel ties the agent to this process: it closes when we die, even by SIGKILL, and the agent then stops.
    { stdio: ["ignore", agentLog, agentLog, "ipc"], env: { ...process.env, HODEI_CONTROLLER: "", [DIAL_ON_MESSAGE]: "1" } },
  );
  agent.channel?.unref();
  closeSync(agentLog);
  let store: Store | undefined;
  let countClaimable: typeof CountClaimable;
  try {
    const [{ startController }, { countClaimable: count }] = await Promise.all([import("../controller/server.js"), import("../controller/store/runs.js")]);
    countClaimable = count;
    store = await opening;
    // One local agent is all there will ever be: a run it cannot take fails at once.
    controller = await startController({
      store,
      dataDir: dbDir,
      lock,
      socket,
      onClientCall,
      // Its own token, whatever HODEI_ADMIN_TOKEN says: the file is how its owner's CLI gets in.
      adminToken: "",
      adminTokenFile: tokenFileOf(dataDir),
      embedded: true,
      agentJoinToken,
      unschedulableAfterMs: 0,
      heartbeatIntervalMs: 1_000,
      // Zero configuration for secrets too: the key file is made (0600, in the 0700 data dir) when first needed.
      masterKey: process.env.HODEI_MASTER_KEY
        ? { env: process.env.HODEI_MASTER_KEY, previousEnv: process.env.HODEI_MASTER_KEY_PREVIOUS }
        : { file: join(dataDir, "master.key"), create: true },
      logger,
      // Its one agent runs here, as this user: `hodei run --in-place` may use the user's working tree as the workspace.
      allowInPlace: true,
    });
  } catch (err) {
    agent.kill("SIGKILL");
    await (store ?? (await opening.catch(() => undefined)))?.close().catch(() => {});
    lock.release();
    closeSync(logFile);
    throw new CliError(`could not start the embedded controller on ${dbDir}: ${(err as Error).message}`, { cause: err });
  }
  // With a callback, a channel already closed (the agent died) is reported there, not thrown as an 'error' event.
  if (agent.connected) agent.send(CONTROLLER_LISTENING, () => {});
  process.stderr.write(`${new Date().toISOString()} embedded controller pid ${process.pid} listening on ${controller.address}, agent pid ${agent.pid}, idle exit after ${idle} ms\n`);

  let stopping: ((why: string) => void) | undefined;
  const stopped = new Promise<string>((res) => (stopping = res));
  const onSignal = (sig: NodeJS.Signals): void => stopping?.(`received ${sig}`);
  for (const s of ["SIGTERM", "SIGINT", "SIGHUP"] as const) process.on(s, onSignal);
  agent.once("exit", (code, sig) => stopping?.(`its agent exited (${sig ?? code})`));
  if (agent.exitCode !== null || agent.signalCode !== null) stopping?.(`its agent exited (${agent.signalCode ?? agent.exitCode})`);

  // The idle clock: a run queued or running, or any client call, restarts it.
  let lastBusy = Date.now();
  const tick = Math.max(100, Math.min(5_000, Math.floor(idle / 4)));
  let checking = false;
  const timer = setInterval(() => {
    if (checking) return;
    checking = true;
    busy(controller, countClaimable)
      .then((b) => {
        const now = Date.now();
        if (b || openStreams > 0) lastBusy = now;
        else if (now - Math.max(lastBusy, lastCall) >= idle) stopping?.(`idle for ${idle} ms`);
      })
      .catch(() => {})
      .finally(() => (checking = false));
  }, tick);

  const why = await stopped;
  clearInterval(timer);
  process.stderr.write(`${new Date().toISOString()} stopping: ${why}\n`);
  // The agent's own shutdown: the first SIGTERM lets running jobs finish, a second cancels them
  // (their whole process group); SIGKILL only if it still hangs, as it would orphan their processes.
  const agentExited = new Promise((res) => (agent.exitCode === null && agent.signalCode === null ? agent.once("exit", res) : res(undefined)));
  const within = (ms: number) => Promise.race([agentExited.then(() => true), new Promise<boolean>((res) => setTimeout(() => res(false), ms))]);
  agent.kill("SIGTERM");
  if (!(await within(AGENT_DRAIN_MS))) {
    agent.kill("SIGTERM");
    if (!(await within(30_000))) agent.kill("SIGKILL");
  }
  await controller.stop();
  await store.close();
  if (existsSync(socket)) unlinkSync(socket);
  lock.release();
  closeSync(logFile);
  for (const s of ["SIGTERM", "SIGINT", "SIGHUP"] as const) process.off(s, onSignal);
  process.stderr.write(`${new Date().toISOString()} stopped\n`);
}

/** True while an agent runs something or something it could take is queued. */
async function busy(c: Controller, countClaimable: typeof CountClaimable): Promise<boolean> {
  const sessions = c.agents.all();
  if (sessions.some((s) => s.running.size > 0)) return true;
  const queued = await Promise.all(sessions.map((s) => countClaimable(c.store.db, s.labels)));
  return queued.some((n) => n > 0);
}

/** Stops the data dir's daemon (SIGTERM) and waits for it to exit; false when none ran. */
export async function stopDaemon(dataDir: string, timeoutMs = 60_000): Promise<DaemonInfo | undefined> {
  const d = findDaemon(dataDir);
  if (!d) return undefined;
  try {
    process.kill(d.pid, "SIGTERM");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ESRCH") return d;
    throw new CliError(`cannot stop the embedded controller (pid ${d.pid}): ${(err as Error).message}`, { cause: err });
  }
  for (let waited = 0; alive(d.pid); waited += 100) {
    if (waited > timeoutMs) throw new CliError(`the embedded controller (pid ${d.pid}) did not stop within ${timeoutMs / 1000} s; see ${daemonLogOf(dataDir)}`);
    await new Promise((res) => setTimeout(res, 100));
  }
  return d;
}
