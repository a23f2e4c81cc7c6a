// Agent-wide cap on log bytes held in memory until the controller acknowledges
// them. Above the limit every job's output is paused (its pipe fills and the
// job blocks on write: backpressure to the job); below half it resumes. The
// gap between the two stops jobs flapping on every ack.
//
// SEAM: a disk spool (a later issue) replaces the pause: instead of pausing,
// chunks beyond the limit go to <workDir>/spool and LogPipe reads them back
// when sending. Only this class and LogPipe's storage change then.

export type BudgetListener = (paused: boolean) => void;

export class LogBudget {
  private used = 0;
  private isPaused = false;
  private readonly listeners = new Set<BudgetListener>();

  constructor(readonly limit: number) {}

  get bytes(): number {
    return this.used;
  }

  get paused(): boolean {
    return this.isPaused;
  }

  /** Positive when chunks are queued, negative when they are acknowledged. */
  add(delta: number): void {
    this.used += delta;
    if (!this.isPaused && this.used > this.limit) this.set(true);
    else if (this.isPaused && this.used <= this.limit / 2) this.set(false);
  }

  subscribe(listener: BudgetListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private set(paused: boolean): void {
    this.isPaused = paused;
    for (const l of this.listeners) l(paused);
  }
}
