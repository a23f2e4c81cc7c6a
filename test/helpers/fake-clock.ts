/**
 * A clock for the schedule loop (controller/scheduler/scheduler.ts Clock) that
 * stands still until the test moves it; timers fire in order as it passes them.
 */
import type { Clock, Scheduler } from "../../controller/scheduler/scheduler.js";

export const MIN = 60_000;

/** The first minute boundary after `t`. */
export const nextMinute = (t: number): number => Math.floor(t / MIN) * MIN + MIN;

export class FakeClock implements Clock {
  private timers = new Set<{ at: number; fn: () => void }>();
  constructor(public t: number) {}
  now = (): Date => new Date(this.t);
  setTimer = (fn: () => void, ms: number): (() => void) => {
    const timer = { at: this.t + ms, fn };
    this.timers.add(timer);
    return () => void this.timers.delete(timer);
  };
  get pending(): number {
    return this.timers.size;
  }
  /**
   * Moves to `to`, firing the timers it passes at their instants and waiting
   * for the schedulers' passes. Timers due at one instant fire in random
   * order: which controller reaches the database first is left to chance.
   */
  async advance(to: number, schedulers: Scheduler[]): Promise<void> {
    for (;;) {
      const due = [...this.timers].filter((x) => x.at <= to);
      if (due.length === 0) break;
      const at = Math.min(...due.map((x) => x.at));
      this.t = Math.max(this.t, at);
      for (const x of due.filter((d) => d.at === at).sort(() => Math.random() - 0.5)) {
        this.timers.delete(x);
        x.fn();
      }
      await Promise.all(schedulers.map((s) => s.settled()));
    }
    this.t = Math.max(this.t, to);
  }
}
