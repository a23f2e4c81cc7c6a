/**
 * The embedded controller: with no controller configured, the CLI runs one
 * in-process on PGlite under the data dir, plus (for `hodei run`) one local
 * agent child process over loopback. The data dir is locked so no second
 * process opens the same PGlite files; a second `hodei` finds the address the
 * owner recorded beside the lock and talks to it instead.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdirSync, openSync, closeSync } from "node:fs";
import { homedir, hostname, availableParallelism } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { pino } from "pino";
import { acquireDataDirLock, type DataDirLock } from "../controller/datadir-lock.js";
import { startController, type Controller } from "../controller/server.js";
import { countClaimable } from "../controller/store/runs.js";
import { CliError } from "./errors.js";

/** The user's data directory, as XDG and macOS define it. */
export function defaultDataDir(): string {
  if (process.env.HODEI_DATA_DIR) return process.env.HODEI_DATA_DIR;
  if (process.env.XDG_DATA_HOME) return join(process.env.XDG_DATA_HOME, "hodei");
  if (process.platform === "darwin") return join(homedir(), "Library", "Application Support", "hodei");
  return join(homedir(), ".local", "share", "hodei");
}

export interface Embedded {
  address: string;
  /** True when this process runs the controller (false: another hodei does). */
  owner: boolean;
  close(): Promise<void>;
}

const BIN = fileURLToPath(new URL("../../bin/run.js", import.meta.url));

export async function openEmbedded(opts: { dataDir: string; withAgent: boolean }): Promise<Embedded> {
  mkdirSync(opts.dataDir, { recursive: true });
  const dbDir = join(opts.dataDir, "db");
  let lock: DataDirLock | undefined;
  for (let waited = 0; ; waited += 100) {
    const r = await acquireDataDirLock(dbDir);
    if (r.held) {
      lock = r.lock;
      break;
    }
    if (r.address) return { address: r.address, owner: false, close: async () => {} };
    // The owner may still be starting; give it time to record its address.
    if (waited > 15_000) {
      throw new CliError(`the embedded database ${dbDir} is in use by process ${r.pid}, which is not serving a controller (${r.reason}). Stop that process, or set HODEI_DATA_DIR to another directory.`);
    }
    await new Promise((res) => setTimeout(res, 100));
  }
  const logFile = openSync(join(opts.dataDir, "controller.log"), "a");
  let controller: Controller;
  try {
    // One local agent is all there will ever be: a run it cannot take fails at once.
    controller = await startController({ dataDir: dbDir, lock, listen: "127.0.0.1:0", unschedulableAfterMs: opts.withAgent ? 0 : 5 * 60_000, heartbeatIntervalMs: 1_000, logger: pino({ name: "controller", level: "info" }, pino.destination(logFile)) });
  } catch (err) {
    lock.release();
    closeSync(logFile);
    throw new CliError(`could not start the embedded controller on ${dbDir}: ${(err as Error).message}`, { cause: err });
  }
  const labels = `os=${process.platform},arch=${process.arch},host=${hostname()}`;
  let agent: ChildProcess | undefined;
  if (opts.withAgent) {
    const agentLog = openSync(join(opts.dataDir, "agent.log"), "a");
    agent = spawn(
      process.execPath,
      [BIN, "agent", "--controller", controller.address, "--name", `local-${hostname()}`, "--labels", labels, "--slots", String(availableParallelism()), "--work-dir", join(opts.dataDir, "work")],
      { stdio: ["ignore", agentLog, agentLog] },
    );
    closeSync(agentLog);
  }
  return {
    address: controller.address,
    owner: true,
    close: async () => {
      // Other hodei processes may be using this controller: serve until its agent is idle.
      await waitIdle(controller);
      if (agent && agent.exitCode === null) {
        const exited = new Promise((res) => agent!.once("exit", res));
        agent.kill("SIGTERM");
        await Promise.race([exited, new Promise((res) => setTimeout(res, 15_000))]);
        if (agent.exitCode === null) agent.kill("SIGKILL");
      }
      await controller.stop();
      lock!.release();
      closeSync(logFile);
    },
  };
}

/** Resolves once no agent runs anything and nothing it could take is queued; re-checked on every run event and agent change. */
async function waitIdle(c: Controller): Promise<void> {
  let poke: (() => void) | undefined;
  let dirty = true;
  // On the next turn: the code that announced a run's end frees its slot just after.
  const wake = (): void => {
    dirty = true;
    setImmediate(() => poke?.());
  };
  const unsubscribe = c.store.bus.subscribe((ev) => ev.type !== "log:appended" && wake());
  const unwatch = c.agents.watch(wake);
  try {
    for (;;) {
      if (!dirty) await new Promise<void>((res) => (poke = res));
      poke = undefined;
      dirty = false;
      const sessions = c.agents.all();
      const busy = sessions.some((s) => s.running.size > 0);
      const queued = busy ? 1 : (await Promise.all(sessions.map((s) => countClaimable(c.store.db, s.labels)))).reduce((a, b) => a + b, 0);
      if (!busy && queued === 0) return;
    }
  } finally {
    unsubscribe();
    unwatch();
  }
}
