/**
 * What the chaos tests share on top of test/helpers/procs.ts: a controller
 * started on a given address (so a restart after kill -9 reuses the port the
 * agents dial) and with its HTTP address parsed, job documents, submits that
 * retry with their key, waiting for runs, reading a run's stored log, and
 * reading /proc.
 */
import { existsSync, readFileSync } from "node:fs";
import { ControlClient } from "../../cli/client.js";
import type { Run, LogEntry } from "../../proto/gen/hodei/v1/control.js";
import { eventually, startController, type ControllerProc, type ControllerStart, type Proc } from "../helpers/procs.js";

export interface ChaosController extends ControllerProc {
  pid: number;
  /** When it printed that it listens (Date.now()). */
  startedAt: number;
}

/**
 * How long a controller must have been up to be in its steady state: past its
 * start-up wait before it declares agents lost (one grace plus the agents'
 * longest reconnect backoff, 12 s: controller/agents/liveness.ts), with room.
 * Chaos that should hit a controller that has been running a while waits for it.
 */
export const STEADY_STATE_MS = 20_000;

/** Waits until `c` has been up for `ms` (default STEADY_STATE_MS). */
export async function untilUptime(c: ChaosController, ms = STEADY_STATE_MS): Promise<void> {
  await sleep(Math.max(0, c.startedAt + ms - Date.now()));
}

export interface ControllerSpawn extends ControllerStart {
  database: { databaseUrl: string } | { dataDir: string };
  extra?: string[];
}

/** `hodei controller` (procs.ts's startController), with its pid and when it began listening. */
export async function spawnController(o: ControllerSpawn): Promise<ChaosController> {
  const c = await startController(o.database, o.extra, o);
  return { ...c, pid: c.proc.pid!, startedAt: Date.now() };
}

/** kill -9, and wait until the process is gone. */
export async function kill9(p: Proc): Promise<void> {
  if (p.proc.exitCode !== null || p.proc.signalCode !== null) return;
  p.proc.kill("SIGKILL");
  await p.exited;
}

/**
 * Stops an agent at teardown without leaving its jobs behind: SIGTERM
 * (drain), then SIGTERM again (cancel the jobs), then SIGKILL.
 */
export async function stopAgent(p: Proc | undefined): Promise<void> {
  if (!p || p.proc.exitCode !== null || p.proc.signalCode !== null) return;
  const done = (ms: number) => Promise.race([p.exited.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), ms))]);
  p.proc.kill("SIGTERM");
  if (await done(3_000)) return;
  p.proc.kill("SIGTERM");
  if (await done(15_000)) return;
  p.proc.kill("SIGKILL");
  await p.exited;
}

/** A Job document as the controller takes it (SubmitRunRequest.job_json). */
export function jobJson(name: string, spec: Record<string, unknown>): string {
  return JSON.stringify({ apiVersion: "hodei.dev/v1", kind: "Job", metadata: { name }, spec });
}

/** SubmitRun with a fixed idempotency key, retried on any error until `timeoutMs`. */
export async function submitWithRetry(client: () => ControlClient, job: string, key: string, opts: { timeoutMs?: number; onError?: (err: unknown) => void } = {}): Promise<Run> {
  const deadline = Date.now() + (opts.timeoutMs ?? 120_000);
  for (;;) {
    try {
      return await client().submitRun({ jobJson: job, source: `chaos:${key}`, idempotencyKey: key });
    } catch (err) {
      opts.onError?.(err);
      if (Date.now() > deadline) throw err;
      await sleep(200);
    }
  }
}

export const TERMINAL = new Set(["succeeded", "failed", "cancelled", "timed_out"]);

/** Polls GetRun (errors while a controller restarts are retried) until `pred` holds. */
export async function waitRun(client: () => ControlClient, id: string, pred: (r: Run) => boolean, what: string, timeoutMs = 60_000): Promise<Run> {
  let last: Run | undefined;
  try {
    return await eventually(async () => {
      try {
        last = await client().getRun(id);
      } catch {
        return undefined;
      }
      return pred(last) ? last : undefined;
    }, `run ${id}: ${what}`, timeoutMs);
  } catch (err) {
    throw new Error(`${(err as Error).message}; last seen: ${last ? JSON.stringify(summary(last)) : "never"}`, { cause: err });
  }
}

export const waitEnded = (client: () => ControlClient, id: string, timeoutMs = 60_000): Promise<Run> =>
  waitRun(client, id, (r) => TERMINAL.has(r.state), "to end", timeoutMs);

/** The parts of a run worth printing. */
export function summary(r: Run): Record<string, unknown> {
  return {
    id: r.id,
    state: r.state,
    attempt: r.attempt,
    exitCode: r.exitCode,
    reason: r.reason,
    message: r.message,
    agent: r.agentName,
    logChunks: r.logChunks,
    attempts: r.attempts.map((a) => ({ attempt: a.attempt, state: a.state, reason: a.reason, exitCode: a.exitCode, message: a.message, agent: a.agentName })),
  };
}

export interface StoredLog {
  stdout: Buffer;
  stderr: Buffer;
  /** Both streams in sequence order, as stored. */
  all: Buffer;
  entries: number;
  /** Sequence numbers that were not 0, 1, 2, ... in order. */
  seqGaps: number;
}

/** One attempt's stored log (default: the current one), read through StreamLogs without follow. */
export async function storedLog(client: ControlClient, runId: string, attempt = 0): Promise<StoredLog> {
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  const all: Buffer[] = [];
  let entries = 0;
  let seqGaps = 0;
  let expect = 0;
  await client.followLogs(runId, { follow: false, attempt }, (e: LogEntry) => {
    const data = Buffer.from(e.data);
    if (e.seq !== expect) seqGaps++;
    expect = e.seq + 1;
    entries++;
    all.push(data);
    // 1 = stdout, 2 = stderr (LogStream); system lines (3) are the agent's, not the job's.
    if (e.stream === 1) out.push(data);
    else if (e.stream === 2) err.push(data);
  });
  return { stdout: Buffer.concat(out), stderr: Buffer.concat(err), all: Buffer.concat(all), entries, seqGaps };
}

/** VmHWM (peak resident set) of a live process, in bytes. */
export function peakRss(pid: number): number {
  const m = /^VmHWM:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  if (!m) throw new Error(`no VmHWM for ${pid}`);
  return Number(m[1]) * 1024;
}

/** Whether a process exists and is not a zombie (a zombie has exited; only its parent has not reaped it). */
export function running(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // pid (comm) STATE ...; comm may hold spaces and parentheses: the state follows the last ')'.
    const state = stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3);
    return state !== "Z" && state !== "X";
  } catch {
    return false;
  }
}

/** The command line of a process, for messages. */
export function cmdline(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, "utf8").replaceAll("\0", " ").trim();
  } catch {
    return "(gone)";
  }
}

/** The lines of a log file matching `re` (at most `max`, the last ones), for failure messages and the report. */
export function grep(file: string, re: RegExp, max = 20): string[] {
  if (!existsSync(file)) return [`(no ${file})`];
  return readFileSync(file, "utf8")
    .split("\n")
    .filter((l) => re.test(l))
    .slice(-max);
}

/** The last `n` lines of a log file. */
export function tail(file: string, n = 30): string {
  if (!existsSync(file)) return `(no ${file})`;
  return readFileSync(file, "utf8").split("\n").slice(-n - 1).join("\n");
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** A GET on the controller's HTTP server: the status, or 0 when it does not answer within `timeoutMs`. */
export async function httpStatus(address: string, path: string, timeoutMs = 5_000): Promise<number> {
  try {
    const r = await fetch(`http://${address}${path}`, { signal: AbortSignal.timeout(timeoutMs) });
    await r.arrayBuffer();
    return r.status;
  } catch {
    return 0;
  }
}
