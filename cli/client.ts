/**
 * A promise-shaped ControlService client. A failed call becomes a typed CLI
 * error (translate): ControllerUnreachableError when no Hodei handler answered,
 * else ControllerError with the kind and retryability the controller sent as
 * metadata (proto/wire-errors.ts). Retryable errors are retried where it is safe.
 */
import * as grpc from "@grpc/grpc-js";
import {
  ControlServiceClient,
  type Run,
  type Agent,
  type Attempt,
  type SubmitRunRequest,
  type ListRunsRequest,
  type ListAgentsResponse,
  type LogEntry,
  type LogEvent,
  type StdinAck,
  type StdinChunk,
  type WatchRunsRequest,
  type StreamLogsRequest,
  type RunWatchEvent,
  type WatchAgentsRequest,
  type AgentWatchEvent,
} from "../proto/gen/hodei/v1/control.js";
import { SecretsServiceClient, type RotateKeyResponse, type Secret } from "../proto/gen/hodei/v1/secrets.js";
import { readFileSync } from "node:fs";
import {
  AuthServiceClient,
  type ApiToken,
  type AuditEntry,
  type CreateJoinTokenRequest,
  type CreateJoinTokenResponse,
  type CreateTokenRequest,
  type CreateTokenResponse,
  type JoinToken,
  type ListAuditRequest,
} from "../proto/gen/hodei/v1/auth.js";
import { GitOpsServiceClient, type AddRepoRequest, type Job, type ListJobsResponse, type Repo, type RunJobRequest } from "../proto/gen/hodei/v1/gitops.js";
import { ControllerError, ControllerUnreachableError, type CliError } from "./errors.js";
import { fromWire } from "../proto/wire-errors.js";
import { tlsTrouble } from "./tls.js";

/** "host:7070" → "host", "[::1]:7070" → "::1". */
const hostOf = (address: string): string => address.replace(/:\d+$/, "").replace(/^\[|\]$/g, "");

/**
 * The API token the CLI sends: HODEI_TOKEN, else the contents of the file
 * HODEI_TOKEN_FILE names (trimmed); undefined when neither is set.
 */
export function tokenFromEnv(env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (env.HODEI_TOKEN) return env.HODEI_TOKEN.trim();
  if (env.HODEI_TOKEN_FILE) {
    try {
      return readFileSync(env.HODEI_TOKEN_FILE, "utf8").trim();
    } catch (err) {
      throw new ControllerError(`cannot read HODEI_TOKEN_FILE ${env.HODEI_TOKEN_FILE}: ${(err as Error).message}`, "invalid", false, undefined, { cause: err });
    }
  }
  return undefined;
}

/** Adds `authorization: Bearer <token>` to every call, unary and streaming. */
function bearer(token: string): grpc.Interceptor {
  return (options, next) =>
    new grpc.InterceptingCall(next(options), {
      start(metadata, listener, nextStart) {
        metadata.set("authorization", `Bearer ${token}`);
        nextStart(metadata, listener);
      },
    });
}

type Unary<Req, Res> = (req: Req, md: grpc.Metadata, opts: Partial<grpc.CallOptions>, cb: (err: grpc.ServiceError | null, res: Res) => void) => grpc.ClientUnaryCall;

export class ControlClient {
  private readonly raw: ControlServiceClient;

  private readonly interceptors: grpc.Interceptor[];

  /** `credentials`: plaintext by default; TLS from cli/tls.ts. `token`: the API token sent on every call (default: tokenFromEnv()). */
  constructor(
    readonly address: string,
    private readonly credentials: grpc.ChannelCredentials = grpc.credentials.createInsecure(),
    token: string | undefined = tokenFromEnv(),
  ) {
    this.interceptors = token ? [bearer(token)] : [];
    this.raw = new ControlServiceClient(address, credentials, {
      interceptors: this.interceptors,
      "grpc.max_receive_message_length": 16 * 1024 * 1024,
      // Reconnect quickly after a controller restart.
      "grpc.initial_reconnect_backoff_ms": 100,
      "grpc.max_reconnect_backoff_ms": 2000,
    });
  }

  /** Resolves once a connection is up, or rejects as a call would (with grpc-js's reason) after `timeoutMs` (hodei doctor). */
  connected(timeoutMs: number): Promise<void> {
    return new Promise((resolve, reject) => {
      this.raw.waitForReady(Date.now() + timeoutMs, (err) => {
        if (!err) return resolve();
        // waitForReady says only "failed before the deadline": one call that does not wait says why.
        this.raw.listAgents({}, new grpc.Metadata(), { deadline: Date.now() + 2000, waitForReady: false } as Partial<grpc.CallOptions>, (callErr) =>
          callErr ? reject(this.translate(callErr)) : resolve(),
        );
      });
    });
  }

  close(): void {
    this.gitopsClient?.close();
    this.secretsClient?.close();
    this.authClient?.close();
    this.raw.close();
  }

  private gitopsClient?: GitOpsServiceClient;
  /** GitOpsService on the same connection. */
  private get gitops(): GitOpsServiceClient {
    this.gitopsClient ??= new GitOpsServiceClient(this.address, this.credentials, { channelOverride: this.raw.getChannel(), interceptors: this.interceptors });
    return this.gitopsClient;
  }

  private secretsClient?: SecretsServiceClient;
  /** SecretsService on the same connection. */
  private get secrets(): SecretsServiceClient {
    this.secretsClient ??= new SecretsServiceClient(this.address, this.credentials, { channelOverride: this.raw.getChannel(), interceptors: this.interceptors });
    return this.secretsClient;
  }

  setSecret(name: string, project: string, value: Buffer): Promise<Secret> {
    return this.call(this.secrets.setSecret, { name, project, value }, 15_000, this.secrets);
  }

  listSecrets(project = ""): Promise<Secret[]> {
    return this.call(this.secrets.listSecrets, { project }, 15_000, this.secrets).then((r) => r.secrets);
  }

  deleteSecret(name: string, project = ""): Promise<Secret> {
    return this.call(this.secrets.deleteSecret, { name, project }, 15_000, this.secrets);
  }

  rotateKey(): Promise<RotateKeyResponse> {
    return this.call(this.secrets.rotateKey, {}, 5 * 60_000, this.secrets);
  }

  private authClient?: AuthServiceClient;
  /** AuthService on the same connection. */
  private get auth(): AuthServiceClient {
    this.authClient ??= new AuthServiceClient(this.address, this.credentials, { channelOverride: this.raw.getChannel(), interceptors: this.interceptors });
    return this.authClient;
  }

  createToken(req: CreateTokenRequest): Promise<CreateTokenResponse> {
    return this.call(this.auth.createToken, req, 15_000, this.auth);
  }

  listTokens(): Promise<ApiToken[]> {
    return this.call(this.auth.listTokens, {}, 15_000, this.auth).then((r) => r.tokens);
  }

  revokeToken(token: string): Promise<ApiToken> {
    return this.call(this.auth.revokeToken, { token }, 15_000, this.auth);
  }

  createJoinToken(req: CreateJoinTokenRequest): Promise<CreateJoinTokenResponse> {
    return this.call(this.auth.createJoinToken, req, 15_000, this.auth);
  }

  listJoinTokens(): Promise<JoinToken[]> {
    return this.call(this.auth.listJoinTokens, {}, 15_000, this.auth).then((r) => r.tokens);
  }

  revokeJoinToken(id: string): Promise<JoinToken> {
    return this.call(this.auth.revokeJoinToken, { id }, 15_000, this.auth);
  }

  revokeAgent(agent: string): Promise<{ agentId: string; name: string }> {
    return this.call(this.auth.revokeAgent, { agent }, 15_000, this.auth);
  }

  whoAmI(): Promise<ApiToken> {
    return this.call(this.auth.whoAmI, {}, 15_000, this.auth);
  }

  listAudit(req: Partial<ListAuditRequest>): Promise<AuditEntry[]> {
    return this.call(this.auth.listAudit, { sinceMs: 0, actor: "", action: "", limit: 100, ...req }, 15_000, this.auth).then((r) => r.entries);
  }

  private call<Req, Res>(fn: Unary<Req, Res>, req: Req, timeoutMs = 15_000, target: grpc.Client = this.raw): Promise<Res> {
    return new Promise((resolve, reject) => {
      fn.call(target, req, new grpc.Metadata(), { deadline: Date.now() + timeoutMs, waitForReady: true } as Partial<grpc.CallOptions>, (err, res) =>
        err ? reject(this.translate(err)) : resolve(res),
      );
    });
  }

  translate(err: grpc.ServiceError): CliError {
    const w = fromWire(err);
    // grpc-js's own UNAVAILABLE or DEADLINE_EXCEEDED: no controller answered.
    if (!w.fromHodei && w.kind === "unavailable") {
      const tls = tlsTrouble(w.message, hostOf(this.address), this.credentials._isSecure());
      return new ControllerUnreachableError(this.address, tls?.reason ?? plainReason(w.message), { cause: err, advice: tls?.advice });
    }
    return new ControllerError(w.message, w.kind, w.retryable, w.correlationId, { cause: err });
  }

  /** Retried with the same idempotency key, so a retry never makes two runs. */
  async submitRun(partial: Omit<SubmitRunRequest, "sourceBundle" | "stdin" | "inPlaceDir" | "project"> & Partial<Pick<SubmitRunRequest, "sourceBundle" | "stdin" | "inPlaceDir" | "project">>): Promise<Run> {
    const req: SubmitRunRequest = { sourceBundle: Buffer.alloc(0), stdin: false, inPlaceDir: "", project: "", ...partial };
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.call(this.raw.submitRun, req);
      } catch (err) {
        if (!isRetryable(err) || attempt >= 5) throw err;
        await sleep(200 * 2 ** attempt);
      }
    }
  }

  getRun(runId: string): Promise<Run> {
    return this.call(this.raw.getRun, { runId });
  }

  listRuns(req: Partial<ListRunsRequest>): Promise<Run[]> {
    return this.call(this.raw.listRuns, { limit: 50, states: [], jobName: "", beforeId: "", ...req }).then((r) => r.runs);
  }

  cancelRun(runId: string, reason = ""): Promise<Run> {
    return this.call(this.raw.cancelRun, { runId, reason });
  }

  drainAgent(agent: string, reason = "", deadlineMs = 0): Promise<Agent> {
    return this.call(this.raw.drainAgent, { agent, reason, deadlineMs });
  }

  rerunRun(runId: string, idempotencyKey: string): Promise<Run> {
    return this.call(this.raw.rerunRun, { runId, idempotencyKey });
  }

  /** Syncs before answering (unless noSync): a big repository over a slow link takes a while. */
  addRepo(req: Partial<AddRepoRequest> & Pick<AddRepoRequest, "url">): Promise<Repo> {
    const full: AddRepoRequest = { name: "", branch: "", path: "", platform: false, webhookSecret: "", token: "", pollIntervalMs: 0, noSync: false, project: "", ...req };
    return this.call(this.gitops.addRepo, full, 10 * 60_000, this.gitops);
  }

  listRepos(): Promise<Repo[]> {
    return this.call(this.gitops.listRepos, {}, 15_000, this.gitops).then((r) => r.repos);
  }

  getRepo(name: string): Promise<Repo> {
    return this.call(this.gitops.getRepo, { name }, 15_000, this.gitops);
  }

  syncRepo(name: string): Promise<Repo> {
    return this.call(this.gitops.syncRepo, { name }, 10 * 60_000, this.gitops);
  }

  removeRepo(name: string): Promise<Repo> {
    return this.call(this.gitops.removeRepo, { name }, 15_000, this.gitops);
  }

  listJobs(repo = ""): Promise<ListJobsResponse> {
    return this.call(this.gitops.listJobs, { repo }, 15_000, this.gitops);
  }

  /** Retried like submitRun, with the same idempotency key. */
  async runJob(req: Partial<RunJobRequest> & Pick<RunJobRequest, "repo" | "job" | "idempotencyKey">): Promise<Run> {
    const full: RunJobRequest = { ref: "", env: {}, stdin: false, ...req };
    for (let attempt = 1; ; attempt++) {
      try {
        // The controller syncs the repository first: allow for a slow fetch.
        return await this.call(this.gitops.runJob, full, 10 * 60_000, this.gitops);
      } catch (err) {
        if (!isRetryable(err) || attempt >= 5) throw err;
        await sleep(200 * 2 ** attempt);
      }
    }
  }

  getJob(repo: string, name: string): Promise<Job> {
    return this.call(this.gitops.getJob, { repo, name }, 15_000, this.gitops);
  }

  /** A WriteStdin stream (cli/stdin.ts drives it: sequence numbers, acknowledgements, resends). */
  openStdin(): grpc.ClientDuplexStream<StdinChunk, StdinAck> {
    return this.raw.writeStdin({ waitForReady: true } as Partial<grpc.CallOptions>);
  }

  /** WatchRuns (proto "Watching"): the caller reads events and reconnects with the last resume_token itself. */
  openWatchRuns(req: Partial<WatchRunsRequest>): grpc.ClientReadableStream<RunWatchEvent> {
    return this.raw.watchRuns({ projects: [], repos: [], jobs: [], states: [], resumeToken: "", snapshotLimit: 0, ...req });
  }

  /** StreamLogs as a raw stream (the TUI's log pane reconnects itself from the next sequence). */
  openLogs(req: StreamLogsRequest): grpc.ClientReadableStream<LogEvent> {
    return this.raw.streamLogs(req);
  }

  /** WatchAgents: a snapshot of agents, then their changes. */
  openWatchAgents(req: Partial<WatchAgentsRequest> = {}): grpc.ClientReadableStream<AgentWatchEvent> {
    return this.raw.watchAgents({ agentRefreshMs: 0, ...req });
  }

  listAgents(): Promise<ListAgentsResponse> {
    return this.call(this.raw.listAgents, {});
  }

  /**
   * Streams a run's log from `fromSeq` of `attempt` (0: the current one); with
   * follow, across retries until the run ends, resuming where it was if the
   * stream breaks (a controller restart). Resolves with the ended run
   * (follow) or undefined.
   */
  async followLogs(
    runId: string,
    opts: { fromSeq?: number; attempt?: number; follow: boolean },
    onChunk: (e: LogEntry) => void | Promise<void>,
    onAttemptEnd?: (a: Attempt) => void | Promise<void>,
  ): Promise<Run | undefined> {
    let next = opts.fromSeq ?? 0;
    let attempt = opts.attempt ?? 0;
    for (let failures = 0; ; ) {
      try {
        const stream = this.raw.streamLogs({ runId, attempt, fromSeq: next, follow: opts.follow }, { waitForReady: true } as Partial<grpc.CallOptions>);
        for await (const ev of stream as AsyncIterable<LogEvent>) {
          failures = 0;
          if (ev.event?.$case === "chunk") {
            const c = ev.event.value;
            if (c.attempt !== attempt) {
              attempt = c.attempt;
              next = 0;
            }
            if (c.seq < next) continue;
            await onChunk(c);
            next = c.seq + 1;
          } else if (ev.event?.$case === "attemptEnd") {
            await onAttemptEnd?.(ev.event.value);
            attempt = ev.event.value.attempt + 1;
            next = 0;
          } else if (ev.event?.$case === "end") {
            return ev.event.value;
          }
        }
        if (!opts.follow) return undefined;
      } catch (err) {
        const e = err as grpc.ServiceError;
        if (typeof e.code !== "number") throw err;
        const translated = this.translate(e);
        if (!isRetryable(translated) || ++failures > 50) throw translated;
        await sleep(Math.min(2000, 100 * 2 ** failures));
      }
    }
  }
}

/**
 * grpc-js's text for a failed connection, as a person would say it. Its raw
 * forms ("No connection established. Last error: Error: connect ECONNREFUSED
 * 127.0.0.1:1 (2025-…). Resolution note: …") are for grpc-js's developers.
 */
export function plainReason(raw: string): string {
  if (/ECONNREFUSED/.test(raw)) return "connection refused";
  if (/ENOTFOUND|EAI_AGAIN|Name resolution failed|DNS resolution failed/i.test(raw)) return "the host name does not resolve";
  if (/EHOSTUNREACH|ENETUNREACH/.test(raw)) return "the host is unreachable";
  if (/ETIMEDOUT|Deadline exceeded|deadline/i.test(raw)) return "no answer in time";
  if (/ECONNRESET/.test(raw)) return "the connection was reset";
  if (/EACCES|EPERM/.test(raw)) return "permission denied (EACCES): the socket or its folder belongs to another user";
  if (/ENOENT/.test(raw)) return "no such socket (ENOENT)";
  const first = raw.split(/\s*(?:Resolution note:|Last error:)/)[0]!.replace(/\s*\(\d{4}-\d\d-\d\dT[^)]*\)/g, "").trim();
  return first.replace(/\.$/, "") || "no answer";
}

/** A controller out of reach (it may be restarting) or an error the controller says may pass. */
const isRetryable = (err: unknown): boolean => err instanceof ControllerUnreachableError || (err instanceof ControllerError && err.retryable);

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
