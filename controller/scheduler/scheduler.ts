/**
 * The schedule loop: sleeps until the next tick of any scheduled job, then
 * claims each due tick in the database and starts its run in the same
 * transaction (store/schedules.ts), so each tick starts exactly one run across
 * restarts and across several controllers on one database: every controller
 * runs this loop, all of them wake for a tick, one claim wins.
 *
 * Which jobs are scheduled is not this module's business: `jobs` is a function
 * returning the current list (read on every pass), and each job brings its own
 * `submit`, which creates the run through the Writer it is given.
 *
 * A pass applies the catch-up rule (ticks.ts `dueTicks`): for each job, only
 * the latest tick that is due and not yet claimed fires, and only if it is
 * younger than the catch-up window (default 1 h). So the first pass after a
 * start-up fires at most one missed tick per job, never a burst; the same rule
 * drops a tick the loop woke too late for (a suspended host).
 *
 * The clock is injected (`now`, `setTimer`) so tests drive ticks without
 * waiting. The loop never sleeps longer than `maxSleepMs` (default 1 min) at a
 * time: a long wait (a yearly job) is a chain of short ones, which also picks
 * up jobs that changed and a wall clock that was set.
 */
import type { ScheduleEntry } from "../../schemas/types.js";
import type { Writer } from "../store/runs.js";
import { claimTick, lastClaimedTicks } from "../store/schedules.js";
import { DEFAULT_CATCH_UP_WINDOW_MS, dueTicks, nextFire } from "./ticks.js";

export interface ScheduledJob {
  /** Names the job definition, stable across restarts and controllers (the claim's key). */
  key: string;
  /**
   * Five-field cron expressions, each a string (in `timezone`) or with its own
   * time zone, as in a job's `triggers.schedule`; a tick is an instant any of
   * them fires at (two firing at once are one tick).
   */
  cron: readonly ScheduleEntry[];
  /** IANA time zone of the entries that name none (default UTC). */
  timezone?: string;
  /**
   * When the job (its schedule) came to exist: ticks at or before it never
   * fire, even if the job has older claimed ticks (a job removed and added
   * again counts from its return). Default: when this scheduler first saw the
   * job, which only matters until the job's first claimed tick.
   */
  since?: Date;
  /** Creates the tick's run through `w` (inside the claim's transaction) and returns its id. */
  submit: (w: Writer, tick: Date) => Promise<string>;
}

export interface Clock {
  now(): Date;
  /** Calls `fn` once after `ms`; the returned function cancels it. */
  setTimer(fn: () => void, ms: number): () => void;
}

export const systemClock: Clock = {
  now: () => new Date(),
  setTimer: (fn, ms) => {
    const t = setTimeout(fn, ms);
    t.unref(); // the scheduler alone never keeps a process alive
    return () => clearTimeout(t);
  },
};

export interface SchedulerOptions {
  store: Writer;
  jobs: () => Promise<readonly ScheduledJob[]>;
  /** A missed tick fires only while younger than this (default 1 h). */
  catchUpWindowMs?: number;
  clock?: Clock;
  /** Longest single sleep (default 1 min). */
  maxSleepMs?: number;
  /** Wait after a pass that failed (the database away) before the next (default 5 s). */
  retryMs?: number;
  /** A tick claimed here started run `runId`. */
  onFired?: (jobKey: string, tick: Date, runId: string) => void;
  /** A pass, a job's schedule or a claim failed; the loop goes on. */
  onError?: (err: unknown, jobKey?: string) => void;
}

/** Each entry of the job as [expression, time zone]. */
export function entries(job: Pick<ScheduledJob, "cron" | "timezone">): [string, string | undefined][] {
  return job.cron.map((e) => (typeof e === "string" ? [e, job.timezone] : [e.cron, e.timezone ?? job.timezone]));
}

export class Scheduler {
  private readonly windowMs: number;
  private readonly clock: Clock;
  private readonly maxSleepMs: number;
  private readonly retryMs: number;
  private readonly firstSeen = new Map<string, Date>();
  private cancelTimer: (() => void) | undefined;
  private running: Promise<void> | undefined;
  private again = false;
  private stopped = true;
  /** When the loop next wakes (for tests and status). */
  nextWakeAt: Date | undefined;

  constructor(private readonly opts: SchedulerOptions) {
    this.windowMs = opts.catchUpWindowMs ?? DEFAULT_CATCH_UP_WINDOW_MS;
    if (!(this.windowMs > 0)) throw new RangeError(`catch-up window must be positive, got ${this.windowMs} ms`);
    this.clock = opts.clock ?? systemClock;
    this.maxSleepMs = opts.maxSleepMs ?? 60_000;
    this.retryMs = opts.retryMs ?? 5_000;
  }

  /** Runs the first pass (the catch-up) and keeps going until stopped. */
  async start(): Promise<void> {
    this.stopped = false;
    await this.pass();
  }

  /** Stops the loop; resolves once a pass in flight has ended. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.cancelTimer?.();
    this.cancelTimer = undefined;
    this.nextWakeAt = undefined;
    await this.running;
  }

  /** The jobs changed: run a pass now (coalesced with one in flight). */
  poke(): void {
    if (!this.stopped) void this.pass();
  }

  /** Resolves when no pass is in flight (tests). */
  async settled(): Promise<void> {
    while (this.running) await this.running;
  }

  private pass(): Promise<void> {
    if (this.running) {
      this.again = true;
      return this.running;
    }
    this.cancelTimer?.();
    this.cancelTimer = undefined;
    this.running = (async () => {
      let delay: number;
      do {
        this.again = false;
        try {
          delay = await this.fire();
        } catch (err) {
          this.report(err);
          delay = this.retryMs;
        }
      } while (this.again && !this.stopped);
      this.running = undefined;
      if (!this.stopped) this.arm(delay);
    })();
    return this.running;
  }

  private arm(delayMs: number): void {
    const ms = Math.min(Math.max(delayMs, 0), this.maxSleepMs);
    this.nextWakeAt = new Date(this.clock.now().getTime() + ms);
    this.cancelTimer = this.clock.setTimer(() => {
      this.cancelTimer = undefined;
      void this.pass();
    }, ms);
  }

  /** One pass: claims what is due; returns the milliseconds until the next tick. */
  private async fire(): Promise<number> {
    const jobs = await this.opts.jobs();
    const now = this.clock.now();
    const claimed = await lastClaimedTicks(this.opts.store.db, jobs.map((j) => j.key));
    let next = Infinity;
    for (const job of jobs) {
      if (this.stopped) break;
      if (!this.firstSeen.has(job.key)) this.firstSeen.set(job.key, now);
      const c = claimed.get(job.key);
      const last = job.since ? (c && c > job.since ? c : job.since) : (c ?? this.firstSeen.get(job.key)!);
      try {
        let due: Date | undefined;
        for (const [expr, tz] of entries(job)) {
          const [t] = dueTicks(expr, tz, last, now, this.windowMs);
          if (t && (!due || t > due)) due = t;
        }
        if (due) {
          const tick = due;
          const r = await claimTick(this.opts.store, job.key, tick, (w) => job.submit(w, tick));
          if (r.claimed) this.opts.onFired?.(job.key, tick, r.runId);
        }
        for (const [expr, tz] of entries(job)) {
          const t = nextFire(expr, tz, now);
          if (t) next = Math.min(next, t.getTime());
        }
      } catch (err) {
        this.report(err, job.key);
        next = Math.min(next, now.getTime() + this.retryMs);
      }
    }
    // Forget jobs that are gone, so one that comes back counts from then.
    const keys = new Set(jobs.map((j) => j.key));
    for (const k of this.firstSeen.keys()) if (!keys.has(k)) this.firstSeen.delete(k);
    return next - this.clock.now().getTime();
  }

  private report(err: unknown, jobKey?: string): void {
    try {
      this.opts.onError?.(err, jobKey);
    } catch {
      // a reporter may not break the loop
    }
  }
}
