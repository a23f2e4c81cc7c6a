// Reconnect delays: exponential with "full jitter" (a uniform pick in
// [0, min(max, initial·factor^n)]), so a controller restart is not met by every
// agent redialling in the same millisecond.

export interface BackoffOptions {
  initialMs: number;
  factor: number;
  maxMs: number;
}

export class Backoff {
  private failures = 0;

  constructor(
    private readonly opts: BackoffOptions,
    private readonly random: () => number = Math.random,
  ) {}

  /** Upper bound of the next delay (before jitter). */
  ceiling(): number {
    return Math.min(this.opts.maxMs, this.opts.initialMs * this.opts.factor ** this.failures);
  }

  /** Delay before the next attempt; each call counts one more failure. */
  next(): number {
    const delay = Math.floor(this.random() * this.ceiling());
    this.failures++;
    return delay;
  }

  reset(): void {
    this.failures = 0;
  }
}
