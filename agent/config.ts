// Agent options compile once: AgentOptions (what callers and flags give) →
// compileAgentOptions() (validate, fill defaults, clamp) → CompiledAgentOptions.
// Env-derived defaults (host name, CPU count, temp dir) live here and nowhere else.
import os from "node:os";
import { join, resolve } from "node:path";
import { pino, type Logger } from "pino";
import { ConfigError } from "./errors.js";
import { checkAddress, checkLabel } from "./parse.js";
import type { BackoffOptions } from "./backoff.js";
import { KILL_METHOD_CHOICES, type KillMethodChoice } from "./tree.js";
import type * as grpc from "@grpc/grpc-js";
import { clientCredentials, wantsTls, type ClientTlsFiles } from "./tls.js";
import { readFileSync } from "node:fs";
import { resolveRunAs, type RunAsUser } from "./run-as.js";

function readJoinToken(opts: AgentOptions): string {
  let token = opts.joinToken ?? process.env.HODEI_AGENT_TOKEN ?? "";
  if (opts.joinTokenFile) {
    try {
      token = readFileSync(opts.joinTokenFile, "utf8").trim();
    } catch (err) {
      throw new ConfigError("token-file", `cannot read ${opts.joinTokenFile}: ${(err as Error).message}`);
    }
    if (!token) throw new ConfigError("token-file", `${opts.joinTokenFile} is empty`);
  }
  token = token.trim();
  if (token && !/^[\x21-\x7e]{1,256}$/.test(token)) throw new ConfigError("token", "must be printable characters without spaces, at most 256");
  return token;
}

export interface AgentOptions {
  /** Controller address, HOST:PORT. */
  controller: string;
  /** Stable agent name; defaults to the host name. */
  name?: string;
  labels?: Record<string, string>;
  /** Runs executed at once; defaults to the number of CPUs. */
  slots?: number;
  /** Root of the run workspaces (<workDir>/runs/<run>-<attempt>/). */
  workDir?: string;
  /** How long a drain lets running jobs go on before cancelling them; 0 = no limit. */
  drainTimeoutMs?: number;
  /** Unacknowledged log bytes held in memory; beyond it they go to the spool on disk. */
  maxUnackedLogBytes?: number;
  /** Cap on the spool files of all runs; beyond it (and memory full) job output is paused. 0 = no spool. */
  maxSpoolBytes?: number;
  /** How a job's process tree is stopped; "auto" = a cgroup where one is writable, else the process group. */
  killMethod?: KillMethodChoice;
  /** Keep run workspaces after the run ends (default: delete them). */
  keepWorkspaces?: boolean;
  /**
   * Run jobs in place (ExecSpec.workspace_dir, `hodei run --in-place`): the
   * run names a directory of this machine as its workspace. Only the embedded
   * daemon's agent, on its user's machine, sets it; without it such a run
   * fails before it starts. Default false.
   */
  allowInPlace?: boolean;
  /** How long shutdown waits for the controller to acknowledge the last logs. */
  flushTimeoutMs?: number;
  /** Time between SIGTERM and SIGKILL when the spec does not say. */
  defaultKillGraceMs?: number;
  /** Heartbeat interval when Welcome leaves it at 0. */
  defaultHeartbeatMs?: number;
  /** How long to wait for Welcome after Hello before redialling. */
  helloTimeoutMs?: number;
  backoff?: Partial<BackoffOptions>;
  /** Defaults to pino on stderr at info. */
  logger?: Logger;
  /**
   * The first dial waits for this: the embedded daemon starts its agent while
   * its controller is still starting, and says when it listens. A rejection
   * fails the start.
   */
  dialAfter?: Promise<void>;
  /** TLS to the controller (agent/tls.ts): the CA that signed its certificate, and this agent's client certificate for mutual TLS. */
  tls?: ClientTlsFiles;
  /**
   * The join token the agent presents until it has a credential (credential.ts).
   * Default: HODEI_AGENT_TOKEN. A file (joinTokenFile) is safer than the
   * environment, which a job running as the same user can read.
   */
  joinToken?: string;
  /** A file holding the join token (read once, at compile); wins over joinToken. */
  joinTokenFile?: string;
  /**
   * Run jobs as this user (a name or a uid): the agent must run as root; each
   * run's workspace is given to that user, and the job cannot read the agent's
   * files (its credential) or its process (/proc/<pid>/environ).
   */
  runAs?: string;
}

export interface CompiledAgentOptions {
  readonly controller: string;
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly slots: number;
  readonly workDir: string;
  readonly drainTimeoutMs: number;
  readonly maxUnackedLogBytes: number;
  readonly maxSpoolBytes: number;
  readonly killMethod: KillMethodChoice;
  readonly keepWorkspaces: boolean;
  readonly allowInPlace: boolean;
  readonly flushTimeoutMs: number;
  readonly defaultKillGraceMs: number;
  readonly defaultHeartbeatMs: number;
  readonly helloTimeoutMs: number;
  readonly backoff: BackoffOptions;
  readonly logger: Logger;
  readonly dialAfter?: Promise<void>;
  /** How the agent dials: plaintext, or TLS from the files it was given (read once, at compile). */
  readonly credentials: grpc.ChannelCredentials;
  /** TLS is on (for the start-up log). */
  readonly tls: boolean;
  /** "" when the agent has none (it can only come back with a credential it kept). */
  readonly joinToken: string;
  /** Jobs run as this user (runAs resolved); undefined: as the agent's own user. */
  readonly runAs?: RunAsUser;
  readonly compiled: true;
}

export const DEFAULTS = {
  drainTimeoutMs: 10 * 60_000,
  // 32 MiB: a minute of a noisy build's output, small next to any job's own memory;
  // a slower controller costs disk beyond it, not memory.
  maxUnackedLogBytes: 32 << 20,
  // 10 GiB: hours of a flood against an absent controller; a full disk would lose more.
  maxSpoolBytes: 10 * 2 ** 30,
  killMethod: "auto",
  flushTimeoutMs: 30_000,
  defaultKillGraceMs: 10_000,
  defaultHeartbeatMs: 10_000,
  helloTimeoutMs: 15_000,
  backoff: { initialMs: 200, factor: 2, maxMs: 10_000 },
} as const;

export function defaultWorkDir(): string {
  let user: string;
  try {
    user = os.userInfo().username;
  } catch {
    // no passwd entry (common in containers): fall back to the uid
    user = String(process.getuid?.() ?? "user");
  }
  return join(os.tmpdir(), `hodei-agent-${user}`);
}

export function defaultLogger(level = "info"): Logger {
  // stdout may be a job's pipe or a user's terminal; the agent's own log is diagnostics → stderr.
  return pino({ name: "hodei-agent", level }, pino.destination({ dest: 2, sync: true }));
}

function nonNegative(option: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (!Number.isFinite(value) || value < 0) throw new ConfigError(option, `must be a number ≥ 0, got ${value}`);
  return Math.floor(value);
}

export function compileAgentOptions(opts: AgentOptions | CompiledAgentOptions): CompiledAgentOptions {
  if ("compiled" in opts) return opts;
  const slots = opts.slots ?? os.availableParallelism();
  if (!Number.isInteger(slots) || slots < 1) throw new ConfigError("slots", `must be a whole number ≥ 1, got ${slots}`);
  const name = (opts.name ?? os.hostname()).trim();
  if (!name) throw new ConfigError("name", "must not be empty");
  const labels = { ...(opts.labels ?? {}) };
  for (const [k, v] of Object.entries(labels)) checkLabel("labels", k, v);
  // Below a few pipe reads (64 KiB each) nearly every chunk would go to disk: clamp rather than fail.
  const maxUnacked = Math.max(256 * 1024, nonNegative("max-unacked-logs", opts.maxUnackedLogBytes, DEFAULTS.maxUnackedLogBytes));
  const killMethod = opts.killMethod ?? DEFAULTS.killMethod;
  if (!KILL_METHOD_CHOICES.includes(killMethod)) throw new ConfigError("kill-method", `must be one of ${KILL_METHOD_CHOICES.join(", ")}, got ${String(killMethod)}`);
  const backoff = { ...DEFAULTS.backoff, ...opts.backoff };
  if (backoff.initialMs <= 0 || backoff.factor < 1 || backoff.maxMs < backoff.initialMs) {
    throw new ConfigError("backoff", "needs initialMs > 0, factor ≥ 1, maxMs ≥ initialMs");
  }
  const controller = checkAddress("controller", opts.controller);
  return {
    joinToken: readJoinToken(opts),
    runAs: opts.runAs ? resolveRunAs(opts.runAs) : undefined,
    controller,
    credentials: clientCredentials(controller, opts.tls),
    tls: wantsTls(opts.tls) && !controller.startsWith("unix:"),
    name,
    labels,
    slots,
    workDir: resolve(opts.workDir ?? defaultWorkDir()),
    drainTimeoutMs: nonNegative("drain-timeout", opts.drainTimeoutMs, DEFAULTS.drainTimeoutMs),
    maxUnackedLogBytes: maxUnacked,
    maxSpoolBytes: nonNegative("max-spool", opts.maxSpoolBytes, DEFAULTS.maxSpoolBytes),
    killMethod,
    keepWorkspaces: opts.keepWorkspaces ?? false,
    allowInPlace: opts.allowInPlace ?? false,
    flushTimeoutMs: nonNegative("flush-timeout", opts.flushTimeoutMs, DEFAULTS.flushTimeoutMs),
    defaultKillGraceMs: nonNegative("kill-grace", opts.defaultKillGraceMs, DEFAULTS.defaultKillGraceMs),
    defaultHeartbeatMs: Math.max(100, nonNegative("heartbeat", opts.defaultHeartbeatMs, DEFAULTS.defaultHeartbeatMs)),
    helloTimeoutMs: Math.max(100, nonNegative("hello-timeout", opts.helloTimeoutMs, DEFAULTS.helloTimeoutMs)),
    backoff,
    logger: opts.logger ?? defaultLogger(),
    dialAfter: opts.dialAfter,
    compiled: true,
  };
}
