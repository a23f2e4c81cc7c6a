/**
 * Commit statuses back to GitHub: a run triggered from a GitHub repository
 * that has a token gets `hodei/JOB` on its commit, `pending` once queued, then
 * `success`, `failure` or `error` (status-text.ts says which and with what
 * description); a job a path filter skipped that asked for it (`reportSkipped`)
 * gets `success` "skipped: no matching paths", so a required check never hangs.
 *
 * Posting is off the run's path: events only enqueue, a bounded queue posts
 * with its own concurrency, and a failure is retried with exponential backoff
 * (5xx, 429, rate limits, network errors; Retry-After honoured) up to a number
 * of attempts, then recorded. Nothing here throws into the bus or waits there.
 *
 * Once per status across controllers: each status is claimed by inserting its
 * row (store/statuses.ts); every controller hears every run event and tries,
 * and only the insert that wins posts. A sweep (at start, after a bus resync,
 * then every minute) posts what no one claimed (every controller was down when
 * the run changed) and takes over claims whose poster's lease ran out (it died
 * before posting or giving up; a retry renews the lease, a clean stop ends it).
 *
 * Ordering: GitHub shows the newest status of a context, so a pending posted
 * after the final one would stick. The final status supersedes a pending not
 * yet posted (the pending's poster checks before every attempt), and within a
 * process the two are posted one after the other.
 *
 * The token goes to Octokit only: never logged, never stored here; errors keep
 * the HTTP status and GitHub's message.
 */
import { Octokit } from "@octokit/rest";
import type { Logger } from "pino";
import type { HodeiEvent } from "../bus/events.js";
import type { Store } from "../store/db.js";
import type { CommitStatusRow, RepoRow, RunRow } from "../store/schema.js";
import { getRepo, listRepos } from "../store/repos.js";
import { getRun } from "../store/runs.js";
import { claimStatus, getStatus, recordAttempt, releaseClaims, runsMissingStatus, statusFailures, supersedePending, takeOverStale, type NewCommitStatus } from "../store/statuses.js";
import { isTerminal } from "../runs/transitions.js";
import { DEFAULT_GITHUB_API_URL, githubHost, parseGitHubRepo, type GitHubRepo } from "./github-repo.js";
import { SKIPPED_DESCRIPTION, oneLine, statusText } from "./status-text.js";
import type { Push, PushOutcome } from "./pushes.js";
import type { RunTrigger } from "./pushes.js";

export interface StatusReporterOptions {
  store: Store;
  log: Logger;
  /** GitHub's REST API (default https://api.github.com; Enterprise: https://HOST/api/v3). */
  apiUrl?: string;
  /** A page for the run, shown as the status's link; none when absent. */
  targetUrl?: (runId: string) => string | undefined;
  /** Tries per status before giving up (default 6). */
  attempts?: number;
  /** Backoff before the second try, doubled each time up to maxBackoffMs (defaults 1 s, 60 s). */
  minBackoffMs?: number;
  maxBackoffMs?: number;
  /** The longest Retry-After (or rate-limit reset) waited for (default 5 min). */
  maxRetryAfterMs?: number;
  /** Requests to GitHub in flight at once (default 4). */
  concurrency?: number;
  /** Statuses waiting or being posted; beyond this, new ones are left to the sweep (default 1000). */
  maxQueued?: number;
  /** How long a claim is the claimer's alone (default 15 min: longer than all the retries). */
  leaseMs?: number;
  /** One request's time limit (default 15 s). */
  requestTimeoutMs?: number;
  /** How often the sweep runs after the one at start; 0: only at start and on resync (default 60 s). */
  sweepIntervalMs?: number;
  /** How far back the sweep looks for runs without a status (default 24 h). */
  sweepWindowMs?: number;
  /** Failures kept and shown per repo (default 10). */
  errorsShown?: number;
  /** Names this reporter in its claims (default: random). */
  owner?: string;
}

interface Target extends GitHubRepo {
  token: string;
}

/** One status to post, claimed by this reporter. */
interface Job {
  row: CommitStatusRow;
  target: Target;
}

const RETRYABLE = (status: number | undefined): boolean => status === undefined || status >= 500 || status === 429 || status === 408;

class Backoff extends Error {
  constructor(
    readonly status: number | undefined,
    message: string,
    readonly waitMs: number | undefined,
    readonly retryable: boolean,
  ) {
    super(message);
  }
}

export class StatusReporter {
  private readonly o: Required<Omit<StatusReporterOptions, "targetUrl" | "store" | "log">>;
  private readonly host: string;
  private unsubscribe: (() => void) | undefined;
  private sweepTimer: NodeJS.Timeout | undefined;
  private readonly stopping = new AbortController();
  /** Statuses queued or being posted here. */
  private queued = 0;
  private inFlight = 0;
  private readonly slotWaiters: (() => void)[] = [];
  /** Per run (or skip key): the last job, so a run's final status waits for its pending here. */
  private readonly chains = new Map<string, Promise<void>>();
  /** Aborts a pending's backoff wait when its run's final status arrives. */
  private readonly pendingWaits = new Map<string, AbortController>();
  private readonly tasks = new Set<Promise<void>>();
  private sweeping: Promise<void> | undefined;

  constructor(private readonly opts: StatusReporterOptions) {
    this.o = {
      apiUrl: (opts.apiUrl ?? DEFAULT_GITHUB_API_URL).replace(/\/+$/, ""),
      attempts: opts.attempts ?? 6,
      minBackoffMs: opts.minBackoffMs ?? 1_000,
      maxBackoffMs: opts.maxBackoffMs ?? 60_000,
      maxRetryAfterMs: opts.maxRetryAfterMs ?? 5 * 60_000,
      concurrency: opts.concurrency ?? 4,
      maxQueued: opts.maxQueued ?? 1_000,
      leaseMs: opts.leaseMs ?? 15 * 60_000,
      requestTimeoutMs: opts.requestTimeoutMs ?? 15_000,
      sweepIntervalMs: opts.sweepIntervalMs ?? 60_000,
      sweepWindowMs: opts.sweepWindowMs ?? 24 * 3600_000,
      errorsShown: opts.errorsShown ?? 10,
      owner: opts.owner ?? `${process.pid}-${Math.random().toString(36).slice(2, 10)}`,
    };
    this.host = githubHost(this.o.apiUrl);
  }

  /** Listens to run events and sweeps once; never throws for GitHub's or the sweep's sake. */
  start(): void {
    this.unsubscribe = this.opts.store.bus.subscribe((ev) => this.onEvent(ev));
    this.sweep();
    if (this.o.sweepIntervalMs > 0) {
      this.sweepTimer = setInterval(() => this.sweep(), this.o.sweepIntervalMs);
      this.sweepTimer.unref();
    }
  }

  /**
   * Stops listening and abandons waits, then releases the claims not posted
   * so the next sweep (a peer's, or ours after a restart) posts them; after a
   * crash they are taken over once their lease runs out instead.
   */
  async stop(): Promise<void> {
    this.unsubscribe?.();
    clearInterval(this.sweepTimer);
    this.stopping.abort();
    await Promise.allSettled([...this.tasks]);
    await releaseClaims(this.opts.store.db, this.o.owner).catch((err: unknown) => this.opts.log.warn({ err }, "could not release commit status claims; they are taken over when their lease ends"));
  }

  /** Resolves once nothing is queued, posting or sweeping here (tests). */
  async idle(): Promise<void> {
    while (this.tasks.size > 0) await Promise.allSettled([...this.tasks]);
  }

  /** GitOpsDeps.statusErrors: the newest statuses of a repo that could not be posted, one line each. */
  async errors(repoId: string): Promise<string[]> {
    const rows = await statusFailures(this.opts.store.db, repoId, this.o.errorsShown);
    return rows.map((r) => {
      const what = `${r.context} ${r.state} on ${r.commit.slice(0, 12)}${r.run_id ? ` (run ${r.run_id})` : ""}`;
      const how = r.outcome === "failed" ? `gave up after ${r.attempts} attempt${r.attempts === 1 ? "" : "s"}` : `retrying (attempt ${r.attempts})`;
      return `${new Date(r.updated_at).toISOString()} ${what}: ${how}: ${r.last_error ?? ""}`;
    });
  }

  /** A path filter skipped `job` at `commit` and its trigger asked for a status (reportSkipped). */
  postSkipped(repo: RepoRow, commit: string, job: string): void {
    const target = this.targetOf(repo);
    if (!target) return;
    this.enqueue(
      { key: `skip/${repo.id}/${commit}/${job}`, repoId: repo.id, commit, context: contextOf(job), state: "success", description: SKIPPED_DESCRIPTION },
      target,
    );
  }

  /** What pushesFromSync's onOutcome (and a webhook's startPushRuns) hands over: its skipped jobs get their status. */
  readonly onPushOutcome = (repo: RepoRow, p: Push, o: PushOutcome): void => {
    for (const s of o.skippedByPaths) this.postSkipped(repo, p.after, s.job);
  };

  private onEvent(ev: HodeiEvent): void {
    if (this.stopping.signal.aborted) return;
    if (ev.type === "run:created" || ev.type === "run:finished") this.track(this.forRun(ev.runId));
    else if (ev.type === "bus:resync") this.sweep();
  }

  /** Reads the run as it is now and claims the status that fits it (pending, or final). */
  private async forRun(runId: string): Promise<void> {
    const db = this.opts.store.db;
    const run = await getRun(db, runId);
    if (!run?.repo_id) return;
    const trig = run.trigger as RunTrigger | null;
    if (!trig?.commit || !/^[0-9a-f]{40}([0-9a-f]{24})?$/i.test(trig.commit)) return;
    const repo = await getRepo(db, run.repo_id);
    const target = repo && this.targetOf(repo);
    if (!target || !repo) return;
    this.enqueue(statusOfRun(run, repo, trig.commit), target, this.opts.targetUrl?.(run.id));
  }

  /** The repository to post to, when the repo has a token and its URL is on our GitHub. */
  private targetOf(repo: RepoRow): Target | undefined {
    if (!repo.token) return undefined;
    const gh = parseGitHubRepo(repo.url, this.host);
    return gh ? { ...gh, token: repo.token } : undefined;
  }

  /** Claims the status (unless full: the sweep will find it) and queues its posting behind its run's earlier one. */
  private enqueue(s: NewCommitStatus, target: Target, targetUrl?: string): void {
    if (this.stopping.signal.aborted) return;
    if (this.queued >= this.o.maxQueued) {
      this.opts.log.warn({ key: s.key, queued: this.queued }, "commit status queue full; the sweep will post it");
      return;
    }
    this.queued++;
    const chainKey = s.runId ? `run/${s.runId}` : s.key;
    const work = async (): Promise<void> => {
      const db = this.opts.store.db;
      const row = await claimStatus(db, s, this.o.owner, this.o.leaseMs);
      if (!row) return; // another controller (or an earlier event here) has it
      if (s.runId && s.state !== "pending") {
        await supersedePending(db, s.runId);
        this.pendingWaits.get(s.runId)?.abort();
      }
      await this.queue(chainKey, { row, target }, targetUrl);
    };
    this.track(work().finally(() => this.queued--));
  }

  /** Posts `job` after the previous job of the same run here. */
  private queue(chainKey: string, job: Job, targetUrl?: string): Promise<void> {
    const prev = this.chains.get(chainKey) ?? Promise.resolve();
    const next = prev.then(() => this.post(job, targetUrl));
    this.chains.set(chainKey, next);
    void next.finally(() => {
      if (this.chains.get(chainKey) === next) this.chains.delete(chainKey);
    });
    return next;
  }

  private async post(job: Job, targetUrl?: string): Promise<void> {
    const { row, target } = job;
    const db = this.opts.store.db;
    const log = this.opts.log.child({ status: row.key, context: row.context, state: row.state });
    const isPending = row.state === "pending" && row.run_id !== null;
    const waits = new AbortController();
    if (isPending) this.pendingWaits.set(row.run_id!, waits);
    try {
      for (let attempt = 1; ; attempt++) {
        if (this.stopping.signal.aborted) return;
        // Still ours and still wanted (a final status supersedes a pending)?
        const now = await getStatus(db, row.key);
        if (!now || now.outcome !== "todo" || now.owner !== this.o.owner) return;
        if (isPending && (await getStatus(db, `run/${row.run_id}/final`))) {
          await supersedePending(db, row.run_id!);
          return;
        }
        let failure: Backoff;
        try {
          await this.withSlot(() => this.request(target, row, targetUrl));
          await recordAttempt(db, row.key, this.o.owner, "posted", null);
          log.debug({ attempt }, "commit status posted");
          return;
        } catch (err) {
          if (this.stopping.signal.aborted) return;
          failure = toBackoff(err);
        }
        const last = !failure.retryable || attempt >= this.o.attempts;
        const backoff = Math.min(this.o.maxBackoffMs, this.o.minBackoffMs * 2 ** (attempt - 1));
        const waitMs = failure.waitMs !== undefined ? Math.min(this.o.maxRetryAfterMs, Math.max(failure.waitMs, backoff)) : backoff / 2 + Math.random() * (backoff / 2);
        // The lease covers the wait and the next attempt, so no sweep takes the row over meanwhile.
        const held = await recordAttempt(db, row.key, this.o.owner, last ? "failed" : "todo", failure.message, this.o.leaseMs + waitMs);
        if (last) {
          log.warn({ attempt, error: failure.message }, "could not post a commit status; gave up");
          return;
        }
        if (!held) return;
        log.info({ attempt, error: failure.message, retryInMs: Math.round(waitMs) }, "could not post a commit status; retrying");
        await sleep(waitMs, AbortSignal.any([this.stopping.signal, waits.signal]));
      }
    } catch (err) {
      // The store failed (the status stays claimed; a sweep takes it over once the lease ends).
      log.warn({ err }, "commit status bookkeeping failed");
    } finally {
      if (isPending && this.pendingWaits.get(row.run_id!) === waits) this.pendingWaits.delete(row.run_id!);
    }
  }

  /** POST /repos/{owner}/{repo}/statuses/{sha} */
  private async request(target: Target, row: CommitStatusRow, targetUrl?: string): Promise<void> {
    const octokit = new Octokit({
      auth: target.token,
      baseUrl: this.o.apiUrl,
      userAgent: "hodei",
      log: { debug: () => {}, info: () => {}, warn: () => {}, error: () => {} },
    });
    await octokit.rest.repos.createCommitStatus({
      owner: target.owner,
      repo: target.repo,
      sha: row.commit,
      state: row.state,
      context: row.context,
      description: row.description,
      ...(targetUrl ? { target_url: targetUrl } : {}),
      request: { signal: AbortSignal.any([this.stopping.signal, AbortSignal.timeout(this.o.requestTimeoutMs)]) },
    });
  }

  private async withSlot<T>(fn: () => Promise<T>): Promise<T> {
    while (this.inFlight >= this.o.concurrency) await new Promise<void>((r) => this.slotWaiters.push(r));
    this.inFlight++;
    try {
      return await fn();
    } finally {
      this.inFlight--;
      this.slotWaiters.shift()?.();
    }
  }

  /** Posts what no one claimed, and takes over claims whose lease ran out. One at a time. */
  private sweep(): void {
    if (this.sweeping || this.stopping.signal.aborted) return;
    const run = async (): Promise<void> => {
      const db = this.opts.store.db;
      try {
        const ours = (await listRepos(db)).filter((r) => this.targetOf(r)).map((r) => r.id);
        for (const id of await runsMissingStatus(db, ours, this.o.sweepWindowMs, Math.max(1, this.o.maxQueued - this.queued))) await this.forRun(id);
        for (const row of await takeOverStale(db, this.o.owner, this.o.leaseMs, Math.max(1, this.o.maxQueued - this.queued))) {
          const repo = await getRepo(db, row.repo_id);
          const target = repo && this.targetOf(repo);
          if (!target) {
            await recordAttempt(db, row.key, this.o.owner, "failed", "the repository no longer has a token or a GitHub URL");
            continue;
          }
          this.queued++;
          this.track(this.queue(row.run_id ? `run/${row.run_id}` : row.key, { row, target }, row.run_id ? this.opts.targetUrl?.(row.run_id) : undefined).finally(() => this.queued--));
        }
      } catch (err) {
        this.opts.log.warn({ err }, "commit status sweep failed; trying again later");
      }
    };
    this.sweeping = run().finally(() => (this.sweeping = undefined));
    this.track(this.sweeping);
  }

  private track(p: Promise<void>): void {
    const t = p.catch((err: unknown) => this.opts.log.warn({ err }, "commit status reporting failed"));
    this.tasks.add(t);
    void t.finally(() => this.tasks.delete(t));
  }
}

export const contextOf = (job: string): string => `hodei/${job}`;

/** The status a run's current state calls for, keyed pending or final. */
export function statusOfRun(run: RunRow, repo: RepoRow, commit: string): NewCommitStatus {
  const { state, description } = statusText(run);
  return {
    key: `run/${run.id}/${isTerminal(run.state) ? "final" : "pending"}`,
    repoId: repo.id,
    runId: run.id,
    commit,
    context: contextOf(run.job_name),
    state,
    description,
  };
}

/** What went wrong, whether to try again, and after how long GitHub asked us to wait. */
function toBackoff(err: unknown): Backoff {
  const e = err as { status?: number; message?: string; name?: string; response?: { status?: number; headers?: Record<string, string | undefined> } };
  const status = e.response?.status;
  const headers = e.response?.headers ?? {};
  const text = oneLine(String(e.message ?? err)).slice(0, 300);
  if (status === undefined) return new Backoff(undefined, `no response from GitHub: ${text}`, undefined, true);
  const wait = retryAfterMs(headers);
  // GitHub answers a spent rate limit with 403 (or 429) and says when it resets.
  const limited = (status === 403 || status === 429) && (wait !== undefined || headers["x-ratelimit-remaining"] === "0");
  return new Backoff(status, `HTTP ${status}: ${text}`, wait, RETRYABLE(status) || limited);
}

function retryAfterMs(h: Record<string, string | undefined>): number | undefined {
  const ra = h["retry-after"];
  if (ra !== undefined) {
    if (/^\d+$/.test(ra.trim())) return Number(ra) * 1000;
    const at = Date.parse(ra);
    if (!Number.isNaN(at)) return Math.max(0, at - Date.now());
  }
  if (h["x-ratelimit-remaining"] === "0" && h["x-ratelimit-reset"] && /^\d+$/.test(h["x-ratelimit-reset"])) {
    return Math.max(0, Number(h["x-ratelimit-reset"]) * 1000 - Date.now());
  }
  return undefined;
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const t = setTimeout(done, ms);
    function done(): void {
      clearTimeout(t);
      signal.removeEventListener("abort", done);
      resolve();
    }
    signal.addEventListener("abort", done, { once: true });
  });
}

/** Hands a push's outcome to the reporter, for whoever starts push runs (the sync's onOutcome, a webhook). */
export function reportPushOutcome(reporter: StatusReporter | undefined, repo: RepoRow, p: Push, o: PushOutcome): void {
  reporter?.onPushOutcome(repo, p, o);
}
