/**
 * Controller options compile once: ControllerOptions (flags, env) →
 * compileControllerOptions() → CompiledControllerOptions.
 */
import { DEFAULT_SUBMIT_LIMITS } from "./api/limits.js";
import { homedir } from "node:os";
import type { NewRepo } from "./store/repos.js";
import { join } from "node:path";
import { DEFAULT_GITHUB_API_URL } from "./gitops/github-repo.js";
import { plaintextRefusal } from "./listen-security.js";

export interface ControllerOptions {
  databaseUrl?: string;
  dataDir?: string;
  /** HOST:PORT for gRPC; port 0 picks a free one. */
  listen?: string;
  heartbeatIntervalMs?: number;
  /** Silent heartbeat intervals before an agent is lost and its runs fail (default 3). */
  agentLostAfter?: number;
  /** HOST:PORT for HTTP health endpoints; none when absent. */
  http?: string;
  /** How long a queued run may wait with no agent able to take it before it fails (default 5 min). */
  unschedulableAfterMs?: number;
  /** Time SIGTERM waits for open calls before closing them. */
  shutdownGraceMs?: number;
  /** An assignment its agent has not started after this long is taken back (default 2 min). */
  startDeadlineMs?: number;
  /** The most slots an agent gets, whatever its Hello declares (default 256). */
  maxAgentSlots?: number;
  /** A connection that has not completed its HTTP/2 preface within this is closed (default 10 s). */
  handshakeTimeoutMs?: number;
  /** Repositories from the config file (gitops/config-repos.ts), registered or updated at start. */
  repos?: NewRepo[];
  /** Where repository mirrors are kept (default: DATA_DIR/mirrors, or the user's cache folder with PostgreSQL). */
  mirrorsDir?: string;
  /** The most stdin bytes one run may be sent (`hodei run -i`; default 64 MiB). */
  maxStdinBytes?: number;
  /** The most log bytes one attempt of a run may store; beyond it a marker says so and the rest is dropped (default 1 GiB; 0: no limit). */
  maxLogBytes?: number;
  /** Runs a second one caller (API token) may start by hand; 0: no limit (api/limits.ts). */
  submitRatePerSec?: number;
  /** Queued runs one project may have; 0: no limit. */
  maxQueuedPerProject?: number;
  /** GitHub's REST API, where commit statuses go (default https://api.github.com; Enterprise: https://HOST/api/v3). */
  githubApiUrl?: string;
  /** A schedule tick missed (controller down) fires once while younger than this (default 1 h); 0: never catch up. */
  scheduleCatchUpMs?: number;
  /** TLS for gRPC and HTTP (controller/tls.ts): certificate and key files; a client CA makes agents present certificates. */
  tls?: { certFile?: string; keyFile?: string; clientCaFile?: string };
  /** Serve plaintext on a non-loopback address anyway (refused without it; controller/listen-security.ts). */
  insecure?: boolean;
}

export interface CompiledControllerOptions {
  database: { url: string } | { dataDir: string };
  host: string;
  port: number;
  heartbeatIntervalMs: number;
  agentLostAfter: number;
  unschedulableAfterMs: number;
  http?: { host: string; port: number };
  shutdownGraceMs: number;
  startDeadlineMs: number;
  maxAgentSlots: number;
  handshakeTimeoutMs: number;
  mirrorsDir: string;
  maxStdinBytes: number;
  maxLogBytes: number;
  submitRatePerSec: number;
  maxQueuedPerProject: number;
  githubApiUrl: string;
  /** The scheduler's catch-up window (always positive: 0 was turned into SCHEDULE_ON_TIME_MS). */
  scheduleCatchUpMs: number;
  tls?: { certFile: string; keyFile: string; clientCaFile?: string };
  insecure: boolean;
}

export const DEFAULT_LISTEN = "127.0.0.1:7070";
export const DEFAULT_MAX_AGENT_SLOTS = 256;
export const DEFAULT_HANDSHAKE_TIMEOUT_MS = 10_000;
/** Stdin is stored in the database until the run is deleted: enough for a data file piped in, not a disk image. */
export const DEFAULT_MAX_STDIN_BYTES = 64 * 1024 * 1024;
/** Large: a build that prints a gigabyte is broken, but its log up to there may be how you find out why. */
export const DEFAULT_MAX_LOG_BYTES = 1024 * 1024 * 1024;

export const DEFAULT_SCHEDULE_CATCH_UP_MS = 60 * 60_000;
/**
 * `--schedule-catch-up 0` (never catch up) still lets a tick fire when the
 * loop wakes for it a little late (a busy host, a slow database): within this.
 */
export const SCHEDULE_ON_TIME_MS = 15_000;

export class ConfigError extends Error {
  override name = "ConfigError";
}

export function parseHostPort(s: string): { host: string; port: number } {
  const m = /^(\[[^\]]+\]|[^:]+):(\d{1,5})$/.exec(s.trim());
  const port = m ? Number(m[2]) : NaN;
  if (!m || port > 65535) throw new ConfigError(`invalid address "${s}": expected HOST:PORT, e.g. 127.0.0.1:7070`);
  return { host: m[1]!.replace(/^\[|\]$/g, ""), port };
}

/** --tls-cert and --tls-key go together; --tls-client-ca needs them. */
function compileTls(t: ControllerOptions["tls"]): CompiledControllerOptions["tls"] {
  if (!t || (!t.certFile && !t.keyFile && !t.clientCaFile)) return undefined;
  if (!t.certFile || !t.keyFile) {
    throw new ConfigError(t.clientCaFile && !t.certFile && !t.keyFile ? "--tls-client-ca needs --tls-cert and --tls-key: mutual TLS is TLS first" : "give --tls-cert and --tls-key together");
  }
  return { certFile: t.certFile, keyFile: t.keyFile, clientCaFile: t.clientCaFile || undefined };
}

export function compileControllerOptions(o: ControllerOptions): CompiledControllerOptions {
  if (o.databaseUrl && o.dataDir) throw new ConfigError("give either --database-url or --data-dir, not both");
  if (!o.databaseUrl && !o.dataDir) throw new ConfigError("give --database-url (PostgreSQL) or --data-dir (embedded PGlite)");
  if (o.databaseUrl && !/^postgres(ql)?:\/\//.test(o.databaseUrl)) {
    throw new ConfigError(`invalid database URL: expected postgres://USER@HOST:PORT/DB`);
  }
  const { host, port } = parseHostPort(o.listen ?? DEFAULT_LISTEN);
  const hb = o.heartbeatIntervalMs ?? 5_000;
  if (!(hb >= 100 && hb <= 600_000)) throw new ConfigError(`heartbeat interval must be 100ms..10m, got ${hb}ms`);
  const lostAfter = o.agentLostAfter ?? 3;
  if (!(Number.isInteger(lostAfter) && lostAfter >= 2 && lostAfter <= 100)) throw new ConfigError(`agent-lost-after must be a whole number of heartbeat intervals from 2 to 100, got ${lostAfter}`);
  const maxSlots = o.maxAgentSlots ?? DEFAULT_MAX_AGENT_SLOTS;
  if (!(Number.isInteger(maxSlots) && maxSlots >= 1 && maxSlots <= 100_000)) throw new ConfigError(`max-agent-slots must be a whole number from 1 to 100000, got ${maxSlots}`);
  const handshake = o.handshakeTimeoutMs ?? DEFAULT_HANDSHAKE_TIMEOUT_MS;
  if (!(Number.isInteger(handshake) && handshake >= 100 && handshake <= 600_000)) throw new ConfigError(`handshake timeout must be 100ms..10m, got ${handshake}ms`);
  const submitRate = o.submitRatePerSec ?? DEFAULT_SUBMIT_LIMITS.ratePerSec;
  if (!(Number.isFinite(submitRate) && submitRate >= 0 && submitRate <= 1_000_000)) throw new ConfigError(`submit rate must be 0 (no limit) to 1000000 runs a second, got ${submitRate}`);
  const maxQueued = o.maxQueuedPerProject ?? DEFAULT_SUBMIT_LIMITS.maxQueuedPerProject;
  if (!(Number.isInteger(maxQueued) && maxQueued >= 0)) throw new ConfigError(`max queued runs per project must be a whole number (0: no limit), got ${maxQueued}`);
  const maxStdin = o.maxStdinBytes ?? DEFAULT_MAX_STDIN_BYTES;
  if (!(Number.isInteger(maxStdin) && maxStdin >= 0)) throw new ConfigError(`max stdin size must be a whole number of bytes, got ${maxStdin}`);
  const maxLog = o.maxLogBytes ?? DEFAULT_MAX_LOG_BYTES;
  if (!(Number.isInteger(maxLog) && maxLog >= 0)) throw new ConfigError(`max log size must be a whole number of bytes (0: no limit), got ${maxLog}`);
  const githubApiUrl = o.githubApiUrl ?? DEFAULT_GITHUB_API_URL;
  let api: URL | undefined;
  try {
    api = new URL(githubApiUrl);
  } catch {
    api = undefined;
  }
  if (!api || !/^https?:$/.test(api.protocol) || api.username || api.password || api.search || api.hash) {
    throw new ConfigError(`invalid GitHub API URL "${githubApiUrl}": expected https://api.github.com or, for GitHub Enterprise, https://HOST/api/v3`);
  }
  const tls = compileTls(o.tls);
  const http = o.http ? parseHostPort(o.http) : undefined;
  const security = { tls: tls !== undefined, insecure: o.insecure ?? false };
  const refusal = plaintextRefusal("grpc", host, port, security) ?? (http && plaintextRefusal("http", http.host, http.port, security));
  if (refusal) throw new ConfigError(refusal);
  const catchUp = o.scheduleCatchUpMs ?? DEFAULT_SCHEDULE_CATCH_UP_MS;
  if (!(Number.isFinite(catchUp) && catchUp >= 0 && catchUp <= 7 * 24 * 60 * 60_000)) throw new ConfigError(`schedule catch-up must be 0..7d, got ${catchUp}ms`);
  return {
    githubApiUrl: githubApiUrl.replace(/\/+$/, ""),
    scheduleCatchUpMs: Math.max(catchUp, SCHEDULE_ON_TIME_MS),
    maxStdinBytes: maxStdin,
    maxLogBytes: maxLog,
    submitRatePerSec: submitRate,
    maxQueuedPerProject: maxQueued,
    agentLostAfter: lostAfter,
    maxAgentSlots: maxSlots,
    handshakeTimeoutMs: handshake,
    unschedulableAfterMs: Math.max(0, o.unschedulableAfterMs ?? 5 * 60_000),
    startDeadlineMs: Math.max(1_000, o.startDeadlineMs ?? 2 * 60_000),
    http,
    tls,
    insecure: security.insecure,
    database: o.databaseUrl ? { url: o.databaseUrl } : { dataDir: o.dataDir! },
    host,
    port,
    heartbeatIntervalMs: hb,
    shutdownGraceMs: o.shutdownGraceMs ?? 5_000,
    mirrorsDir: o.mirrorsDir ?? (o.dataDir ? join(o.dataDir, "mirrors") : join(process.env.XDG_CACHE_HOME || join(homedir(), ".cache"), "hodei", "mirrors")),
  };
}
