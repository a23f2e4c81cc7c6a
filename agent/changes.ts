// "Something changed, look again": the agent notifies on every job end, ack
// and stream change, and shutdown waits for a condition over that, with a
// deadline. Listeners are plain checks, so a waiter can never break a notifier.

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
      let timer: NodeJS.Timeout | undefined;
      const done = () => {
        this.waiters.delete(check);
        clearTimeout(timer);
        resolve(condition());
      };
      const check = () => {
        if (condition()) done();
      };
      this.waiters.add(check);
      if (Number.isFinite(timeoutMs)) timer = setTimeout(done, timeoutMs);
      void interrupt?.then(done);
    });
  }
}
