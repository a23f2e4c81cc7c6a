/**
 * Real processes for end-to-end tests: the built `hodei` (bin/run.js → dist/),
 * started as a user would, torn down after each file.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, createWriteStream, readFileSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { ControlClient } from "../../cli/client.js";
import { cliCredentials } from "../../cli/tls.js";
import { generateToken } from "../../controller/auth/tokens.js";
import { seedAgentJoinToken } from "./agent-auth.js";

// The admin token every controller started here seeds and every CLI and client sends. Under vitest
// global-setup.ts set it already; the benches (plain scripts) get one here.
if (!process.env.HODEI_ADMIN_TOKEN) {
  process.env.HODEI_ADMIN_TOKEN = generateToken();
  process.env.HODEI_TOKEN = process.env.HODEI_ADMIN_TOKEN;
}
seedAgentJoinToken();

/** The repository root, from test/helpers or from its compiled copy in dist/test/helpers. */
export const ROOT = ((): string => {
  let dir = import.meta.dirname;
  while (!existsSync(join(dir, "bin/run.js"))) {
    const up = dirname(dir);
    if (up === dir) throw new Error("cannot find the hodei repository root");
    dir = up;
  }
  return dir;
})();
export const HODEI = join(ROOT, "bin/run.js");

export function tempDir(prefix = "hodei-test-"): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

export interface Result {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: Buffer;
  stderr: string;
  stderrBytes: Buffer;
}

/** Runs `hodei ARGS` to completion, capturing stdout as bytes; `input` is its stdin (default: none, /dev/null). */
export function hodei(args: string[], opts: { env?: NodeJS.ProcessEnv; cwd?: string; timeoutMs?: number; input?: string | Buffer } = {}): Promise<Result> {
  return new Promise((resolve, reject) => {
    const stdin = opts.input === undefined ? "ignore" : "pipe";
    const p = spawn(process.execPath, [HODEI, ...args], { cwd: opts.cwd ?? ROOT, env: { ...process.env, HODEI_CONTROLLER: "", ...opts.env }, stdio: [stdin, "pipe", "pipe"] });
    if (opts.input !== undefined) p.stdin!.end(opts.input);
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    p.stdout!.on("data", (d: Buffer) => out.push(d));
    p.stderr!.on("data", (d: Buffer) => err.push(d));
    const timer = setTimeout(() => p.kill("SIGKILL"), opts.timeoutMs ?? 120_000);
    p.on("error", reject);
    p.on("close", (code, signal) => {
      clearTimeout(timer);
      const stderrBytes = Buffer.concat(err);
      resolve({ code, signal, stdout: Buffer.concat(out), stderr: stderrBytes.toString(), stderrBytes });
    });
  });
}

/** `hodei ... --json`, parsed. */
/**
 * Starts `hodei run FILE` and, once the job has printed its first line, sends
 * `signals` one after the other (300 ms apart); resolves with its exit code and stderr.
 */
export function runAndSignal(file: string, signals: NodeJS.Signals[], env: NodeJS.ProcessEnv): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [HODEI, "run", file], { cwd: ROOT, env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
    let stderr = "";
    let sent = false;
    p.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    p.stdout.on("data", () => {
      if (sent) return;
      sent = true;
      signals.forEach((sig, i) => setTimeout(() => p.kill(sig), i * 300));
    });
    p.on("close", (code) => resolve({ code, stderr }));
  });
}

export async function hodeiJson<T = Record<string, unknown>>(args: string[], opts: Parameters<typeof hodei>[1] = {}): Promise<T> {
  const r = await hodei([...args, "--json"], opts);
  try {
    return JSON.parse(r.stdout.toString()) as T;
  } catch {
    throw new Error(`hodei ${args.join(" ")} --json exited ${r.code} with non-JSON output:\n${r.stdout.toString()}\n${r.stderr}`);
  }
}

export interface Proc {
  proc: ChildProcess;
  logFile: string;
  /** Signals the process and waits for it to exit; SIGKILL after 20 s. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
  exited: Promise<number | null>;
}

function track(p: ChildProcess, logFile: string): Proc {
  const exited = new Promise<number | null>((resolve) => p.on("exit", (code) => resolve(code)));
  return {
    proc: p,
    logFile,
    exited,
    stop: async (signal = "SIGTERM") => {
      if (p.exitCode !== null || p.signalCode !== null) return p.exitCode;
      p.kill(signal);
      const t = setTimeout(() => p.kill("SIGKILL"), 20_000);
      const code = await exited;
      clearTimeout(t);
      return code;
    },
  };
}

export interface ControllerProc extends Proc {
  address: string;
  /** HOST:PORT of the HTTP health endpoints, when started with `http`. */
  httpAddress?: string;
  client: ControlClient;
}

export interface ControllerStart {
  /** HOST:PORT; a restart passes the address of the controller it replaces (default 127.0.0.1:0). */
  listen?: string;
  /** Adds `--http 127.0.0.1:0` and waits for `http listening on ADDR` too. */
  http?: boolean;
  /** Where the controller's stderr goes (appended); default a new temp file. */
  logFile?: string;
  /** The CA file its `client` trusts, for a controller started with --tls-cert (its client then dials over TLS). */
  clientCa?: string;
  /** Over the test process's environment (which seeds HODEI_ADMIN_TOKEN; global-setup.ts). */
  env?: NodeJS.ProcessEnv;
}

/** `hodei controller`; resolves once it prints `hodei controller listening on ADDR` (and the HTTP address, with http). */
export async function startController(db: { databaseUrl: string } | { dataDir: string }, extra: string[] = [], o: ControllerStart = {}): Promise<ControllerProc> {
  const logFile = o.logFile ?? join(tempDir("hodei-ctl-"), "controller.log");
  const dbArgs = "databaseUrl" in db ? ["--database-url", db.databaseUrl] : ["--data-dir", db.dataDir];
  const args = [HODEI, "controller", ...dbArgs, "--listen", o.listen ?? "127.0.0.1:0", ...(o.http ? ["--http", "127.0.0.1:0"] : []), ...extra];
  const p = spawn(process.execPath, args, { stdio: ["ignore", "ignore", "pipe"], env: { ...process.env, HODEI_CONTROLLER: "", ...o.env } });
  const log = createWriteStream(logFile, { flags: "a" });
  const t = track(p, logFile);
  const { address, httpAddress } = await new Promise<{ address: string; httpAddress?: string }>((resolve, reject) => {
    let seen = "";
    const timer = setTimeout(() => reject(new Error(`controller did not start (log ${logFile}):\n${seen}`)), 60_000);
    p.stderr!.on("data", (d: Buffer) => {
      log.write(d);
      seen += d.toString();
      const grpcAddr = /hodei controller listening on (\S+)/.exec(seen)?.[1];
      const httpAddr = /http listening on (\S+)/.exec(seen)?.[1];
      if (grpcAddr && (!o.http || httpAddr)) {
        clearTimeout(timer);
        resolve({ address: grpcAddr, httpAddress: httpAddr });
      }
    });
    p.on("exit", (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`controller exited ${code ?? signal} before listening (log ${logFile}):\n${seen}`));
    });
  });
  const client = new ControlClient(address, cliCredentials(address, o.clientCa));
  return {
    ...t,
    address,
    httpAddress,
    client,
    stop: async (signal) => {
      client.close();
      return t.stop(signal);
    },
  };
}

export interface AgentOpts {
  name: string;
  slots?: number;
  labels?: string;
  extra?: string[];
  /** Its --work-dir (default: a new temp dir): a restart that passes the same one comes back with its credential. */
  workDir?: string;
  /** Over the test process's environment (which seeds HODEI_AGENT_TOKEN; global-setup.ts). */
  env?: NodeJS.ProcessEnv;
}

/** `hodei agent` dialing `controller`; resolves once the controller lists it as connected. */
export async function startAgent(controller: ControllerProc, o: AgentOpts): Promise<Proc> {
  const dir = tempDir("hodei-agent-");
  const logFile = join(dir, "agent.log");
  const args = [HODEI, "agent", "--controller", controller.address, "--name", o.name, "--slots", String(o.slots ?? 2), "--work-dir", o.workDir ?? join(dir, "work")];
  if (o.labels) args.push("--labels", o.labels);
  const p = spawn(process.execPath, [...args, ...(o.extra ?? [])], { stdio: ["ignore", "ignore", "pipe"], env: { ...process.env, HODEI_CONTROLLER: "", ...o.env } });
  const log = createWriteStream(logFile);
  p.stderr!.pipe(log);
  const deadline = Date.now() + 30_000;
  for (;;) {
    const { agents } = await controller.client.listAgents();
    if (agents.some((a) => a.name === o.name && a.state === "connected")) break;
    if (p.exitCode !== null) throw new Error(`agent ${o.name} exited ${p.exitCode}:\n${readFileSync(logFile, "utf8")}`);
    if (Date.now() > deadline) throw new Error(`agent ${o.name} did not connect:\n${readFileSync(logFile, "utf8")}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return track(p, logFile);
}

/** Polls until `check` returns a value (not a wall-clock assertion: a bound so a broken test ends). */
export async function eventually<T>(check: () => Promise<T | undefined> | T | undefined, what: string, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
