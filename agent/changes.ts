// "Something changed, look again": the agent notifies on every job end, ack
// and stream change, and shutdown waits for a condition over that, with a
// deadline. Listeners are plain checks, so a waiter can never break a notifier.
import { setLongTimeout, type LongTimer } from "./long-timer.js";

export class Changes {
  private readonly waiters = new Set<() => void>();

  notify(): void {
    for (const check of [...this.waiters]) check();
  }

  /**
   * Resolves true once `condition()` holds, or with its value when `timeoutMs`
   * passes or `interrupt` settles, whichever comes first.
   */
  until(condition: () => boolean, timeoutMs = Infinity, interrupt?: Promise<void>): Promise<boolean> {
    return new Promise((resolve) => {
      if (condition()) return resolve(true);
      let timer: LongTimer | undefined;
      const done = () => {
        this.waiters.delete(check);
        timer?.clear();
        resolve(condition());
      };
      const check = () => {
        if (condition()) done();
      };
      this.waiters.add(check);
      // Long: a drain deadline (--drain-timeout, Drain.deadline_ms) may be up to 365d.
      if (Number.isFinite(timeoutMs)) timer = setLongTimeout(done, timeoutMs);
      void interrupt?.then(done);
    });
  }
}
