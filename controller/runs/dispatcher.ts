/**
 * Places queued runs on free agent slots. Event-driven: a submit, a finished
 * run or a new agent calls wake(); wakes that arrive while a pass is running
 * coalesce into one more pass. There is no polling loop.
 */
import type { Logger } from "pino";
import type { Db } from "../store/db.js";
import type { RunRow } from "../store/schema.js";
import { claimRuns, requeueAssigned } from "../store/runs.js";
import { nextRetryInMs } from "../store/attempts.js";
import type { AgentSession } from "../agents/session.js";
import { toExecSpec } from "./exec-spec.js";

export class Dispatcher {
  readonly sessions = new Map<string, AgentSession>();
  private passRunning = false;
  private again = false;
  private rotate = 0;
  private idle: Promise<void> = Promise.resolve();
  /** Wakes the dispatcher when the earliest retry's backoff is over. */
  private retryTimer: NodeJS.Timeout | undefined;
  /** Whether a retry may be waiting out its backoff (unknown at start, so true), to skip the query when none is. */
  private retriesWaiting = true;
  private stopped = false;

  /** Told when the dispatcher itself ends a run (a cancelled assignment that never reached its agent). */
  onEnded?: (run: RunRow) => void;

  constructor(
    private readonly db: Db,
    private readonly log: Logger,
  ) {}

  wake(): void {
    if (this.passRunning) {
      this.again = true;
      return;
    }
    this.passRunning = true;
    this.idle = this.loop().finally(() => {
      this.passRunning = false;
    });
  }

  /** Resolves when no pass is running (tests and shutdown). */
  settled(): Promise<void> {
    return this.idle;
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
    } while (this.again);
  }

  /** An attempt was retried: its run waits in the queue until its backoff is over. */
  retryScheduled(): void {
    this.retriesWaiting = true;
    this.wake();
  }

  /** Stops timers (shutdown). */
  stop(): void {
    this.stopped = true;
    clearTimeout(this.retryTimer);
  }

  private wakeIn(ms: number): void {
    if (this.stopped) return;
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => this.wake(), ms);
    this.retryTimer.unref();
  }

  private async pass(): Promise<void> {
    const sessions = [...this.sessions.values()];
    if (sessions.length === 0) return;
    let idleSlots = false;
    // Start at a different agent each pass so work spreads across agents.
    this.rotate = (this.rotate + 1) % sessions.length;
    for (let i = 0; i < sessions.length; i++) {
      const s = sessions[(this.rotate + i) % sessions.length]!;
      const free = s.free;
      if (free <= 0) continue;
      const runs = await claimRuns(this.db, s.id, s.labels, free);
      for (const run of runs) this.assign(s, run);
      if (runs.length < free) idleSlots = true;
    }
    // Slots are free but retries wait for their backoff: come back when the first may start.
    if (idleSlots && this.retriesWaiting) {
      const ms = await nextRetryInMs(this.db);
      if (ms === undefined) this.retriesWaiting = false;
      else this.wakeIn(ms + 5);
    }
  }

  private assign(s: AgentSession, run: RunRow): void {
    s.running.set(run.id, { attempt: run.attempt, nextSeq: 0 });
    const sent = s.send({ msg: { $case: "assign", value: { runId: run.id, attempt: run.attempt, jobName: run.job_name, spec: toExecSpec(run.job) } } });
    if (!sent) {
      s.running.delete(run.id);
      void this.requeue(run);
    }
  }

  /** An assignment that never reached its agent goes back to the queue (it never started). */
  private async requeue(run: RunRow): Promise<void> {
    try {
      const after = await requeueAssigned(this.db, run.id, run.attempt);
      if (after?.state === "cancelled") this.onEnded?.(after);
      this.wake();
    } catch (err) {
      this.log.warn({ err, run: run.id }, "could not requeue run");
    }
  }
}
