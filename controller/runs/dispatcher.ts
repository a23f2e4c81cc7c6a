/**
 * Places queued runs on free agent slots. Event-driven: it listens on the bus,
 * and a run created, requeued, retried or finished (here or in another
 * controller on the same database), an agent connecting (the registry), or a catch-up after
 * a bus gap schedules a pass. Wakes coalesce: a pass runs on the next turn of
 * the event loop (after the code that announced has finished its own
 * bookkeeping, such as freeing a slot), and wakes during a pass make one more.
 * There is no polling loop.
 */
import type { Logger } from "pino";
import type { Writer } from "../store/runs.js";
import { claimRuns, requeueAssigned } from "../store/runs.js";
import { nextRetryInMs } from "../store/attempts.js";
import type { RunRow } from "../store/schema.js";
import type { AgentSession } from "../agents/session.js";
import type { AgentRegistry } from "../agents/registry.js";
import type { HodeiEvent } from "../bus/events.js";
import { reposForRuns } from "../store/repos.js";
import { runExecSpec, type RepoForSpec, type RunSecrets } from "./exec-spec.js";

export class Dispatcher {
  private passRunning = false;
  private scheduled = false;
  private again = false;
  private rotate = 0;
  private idle: Promise<void> = Promise.resolve();
  /** Wakes the dispatcher when the earliest retry's backoff is over. */
  private retryTimer: NodeJS.Timeout | undefined;
  /** Whether a retry may be waiting out its backoff (unknown at start, so true), to skip the query when none is. */
  private retriesWaiting = true;
  /** Counts retries heard, so a query that started before one cannot clear `retriesWaiting` after it. */
  private retriesHeard = 0;
  private stopped = false;
  private readonly unsubscribe: () => void;
  private readonly unwatch: () => void;

  constructor(
    private readonly store: Writer,
    private readonly agents: AgentRegistry,
    private readonly log: Logger,
    /** The secrets a claimed run gets, or why it cannot (controller/secrets/resolve.ts); undefined: it names none. */
    private readonly secretsOf: (run: RunRow) => Promise<RunSecrets | undefined> = async () => undefined,
  ) {
    this.unsubscribe = store.bus.subscribe((ev) => this.hear(ev));
    // An agent connecting (or leaving) changes the free slots.
    this.unwatch = agents.watch(() => this.wake());
  }

  private hear(ev: HodeiEvent): void {
    switch (ev.type) {
      case "run:retried":
        this.retriesWaiting = true;
        this.retriesHeard++;
        this.wake();
        return;
      case "run:created":
      case "run:requeued":
      case "run:finished":
      case "bus:resync":
        this.wake();
        return;
      default:
        return;
    }
  }

  wake(): void {
    if (this.stopped) return;
    if (this.passRunning) {
      this.again = true;
      return;
    }
    if (this.scheduled) return;
    this.scheduled = true;
    this.idle = new Promise<void>((resolve) =>
      setImmediate(() => {
        this.scheduled = false;
        this.passRunning = true;
        this.loop().finally(() => {
          this.passRunning = false;
          resolve();
        });
      }),
    );
  }

  /** Resolves when no pass is running or scheduled (tests and shutdown). */
  async settled(): Promise<void> {
    while (this.scheduled || this.passRunning) await this.idle;
  }

  private async loop(): Promise<void> {
    do {
      this.again = false;
      try {
        await this.pass();
      } catch (err) {
        // The database may be down: try again shortly, as well as on the next submit, finish or reconnect.
        this.log.warn({ err }, "dispatch pass failed");
        this.wakeIn(1_000);
      }
    } while (this.again && !this.stopped);
  }

  /** Stops listening and timers (shutdown). */
  stop(): void {
    this.stopped = true;
    this.unsubscribe();
    this.unwatch();
    clearTimeout(this.retryTimer);
  }

  private wakeIn(ms: number): void {
    if (this.stopped) return;
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => this.wake(), ms);
    this.retryTimer.unref();
  }

  private async pass(): Promise<void> {
    const sessions = this.agents.all();
    if (sessions.length === 0 || !sessions.some((x) => x.free > 0)) return;
    // Retries waiting out their backoff: come back when the first may start. Asked before
    // claiming, so a retry that comes due between the two is claimed now, not missed.
    if (this.retriesWaiting) {
      const heard = this.retriesHeard;
      const ms = await nextRetryInMs(this.store.db);
      if (ms !== undefined) this.wakeIn(ms + 5);
      else if (heard === this.retriesHeard) this.retriesWaiting = false;
    }
    // Start at a different agent each pass so work spreads across agents.
    this.rotate = (this.rotate + 1) % sessions.length;
    for (let i = 0; i < sessions.length; i++) {
      const s = sessions[(this.rotate + i) % sessions.length]!;
      const free = s.free;
      if (free <= 0) continue;
      const runs = await claimRuns(this.store, s.id, s.labels, free);
      if (runs.length === 0) continue;
      let repos: Map<string, RepoForSpec>;
      let secrets: (RunSecrets | undefined)[];
      try {
        repos = await reposForRuns(this.store.db, runs);
        secrets = await Promise.all(runs.map((r) => this.secretsOf(r)));
      } catch (err) {
        // Claimed but not sent: back to the queue (they never started), then the pass fails as any other.
        for (const run of runs) void this.requeue(run);
        throw err;
      }
      runs.forEach((run, i) => this.assign(s, run, run.repo_id === null ? undefined : repos.get(String(run.repo_id)), secrets[i]));
    }
  }

  private assign(s: AgentSession, run: RunRow, repo: RepoForSpec | undefined, secrets: RunSecrets | undefined): void {
    const spec = runExecSpec(run, repo, secrets);
    s.running.set(run.id, { attempt: run.attempt, nextSeq: 0, logBytes: 0, assignedAt: Date.now(), maskValues: spec.maskValues });
    // The spec may hold the repo's token and the run's secrets: it goes to this agent's stream and nowhere else (never logged).
    const sent = s.send({ msg: { $case: "assign", value: { runId: run.id, attempt: run.attempt, jobName: run.job_name, spec } } });
    if (!sent) {
      s.running.delete(run.id);
      void this.requeue(run);
    }
  }

  /** An assignment that never reached its agent goes back to the queue (it never started). */
  private async requeue(run: RunRow): Promise<void> {
    try {
      await requeueAssigned(this.store, run.id, run.attempt);
    } catch (err) {
      this.log.warn({ err, run: run.id }, "could not requeue run");
    }
  }
}
