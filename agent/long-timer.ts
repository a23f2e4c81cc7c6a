// setTimeout for any duration a spec or flag may give (up to 365d). Node's
// timers hold at most 2^31-1 ms (about 24.8 days); beyond that they fire
// after 1 ms, so `timeout: 25d` ended a run at once. A longer wait is a chain
// of timers, each at most that long.

/** The longest delay one Node timer holds. */
export const MAX_TIMER_MS = 2 ** 31 - 1;

export interface LongTimer {
  /** Stop it; a timer cleared (or already fired) never calls back. */
  clear(): void;
}

/**
 * Calls `fn` once after `ms` milliseconds, however long that is. Infinity
 * never fires. With `unref`, the timer does not keep the process alive.
 */
export function setLongTimeout(fn: () => void, ms: number, opts: { unref?: boolean } = {}): LongTimer {
  let timer: NodeJS.Timeout | undefined;
  let cleared = false;
  const arm = (left: number): void => {
    const step = Math.min(left, MAX_TIMER_MS);
    timer = setTimeout(() => {
      if (cleared) return;
      if (left > step) arm(left - step);
      else fn();
    }, step);
    if (opts.unref) timer.unref();
  };
  if (ms !== Infinity) arm(Number.isFinite(ms) && ms > 0 ? ms : 0);
  return {
    clear: () => {
      cleared = true;
      clearTimeout(timer);
    },
  };
}
