// Agent-wide accounting of log bytes the controller has not acknowledged yet.
//
// Memory (--max-unacked-logs) is the window: chunks are kept in memory while
// it has room; above the limit new chunks go to the run's spool file on disk
// (spool.ts) until acknowledgements bring memory back below 3/4 of it (the gap
// keeps runs from alternating between memory and disk on every ack). So a
// slow or absent controller costs disk, not memory, and jobs never wait.
//
// Disk (--max-spool) is a hard cap on the spool files of all runs. Only when
// memory is over its limit AND the spool cannot take more (full, or a write
// just failed, e.g. a full disk) are jobs' outputs paused — their pipes fill
// and they block on write — until memory is below half its limit, or the
// spool is below 3/4 of its cap and writable again.

export type PauseListener = (paused: boolean, why: string) => void;

/** After a failed spool write, how long the spool counts as unwritable before it is tried again. */
export const SPOOL_RETRY_MS = 5_000;

export class LogBudget {
  private mem = 0;
  private disk = 0;
  private spilling = false;
  private isPaused = false;
  private failedUntil = 0;
  private retry?: NodeJS.Timeout;
  private readonly listeners = new Set<PauseListener>();

  constructor(
    readonly memoryLimit: number,
    /** 0 turns the spool off: above the memory limit jobs are paused. */
    readonly spoolLimit = 0,
  ) {}

  /** Bytes held in memory: chunks waiting to be numbered and numbered chunks not on disk. */
  get memory(): number {
    return this.mem;
  }
  /** Bytes in spool files. */
  get spool(): number {
    return this.disk;
  }
  get paused(): boolean {
    return this.isPaused;
  }

  /** New chunks should go to disk now (memory is over its limit, and not yet back below 3/4 of it). */
  get spill(): boolean {
    return this.spilling;
  }

  /** The spool takes more: below its cap and no recent write failure. */
  get spoolWritable(): boolean {
    return this.spoolLimit > 0 && this.disk < this.spoolLimit && Date.now() >= this.failedUntil;
  }

  addMemory(delta: number): void {
    this.mem += delta;
    this.evaluate();
  }

  addSpool(delta: number): void {
    this.disk += delta;
    this.evaluate();
  }

  /** A spool write failed: keep chunks in memory for a while, then try the disk again. */
  spoolFailed(): void {
    this.failedUntil = Date.now() + SPOOL_RETRY_MS;
    clearTimeout(this.retry);
    this.retry = setTimeout(() => this.evaluate(), SPOOL_RETRY_MS + 1);
    this.retry.unref();
    this.evaluate();
  }

  subscribe(listener: PauseListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private evaluate(): void {
    if (!this.spilling && this.mem > this.memoryLimit) this.spilling = true;
    else if (this.spilling && this.mem <= (this.memoryLimit * 3) / 4) this.spilling = false;

    const failing = Date.now() < this.failedUntil;
    if (!this.isPaused && this.mem > this.memoryLimit && !this.spoolWritable) {
      const why = this.spoolLimit === 0 ? "log memory full and the spool is off" : failing ? "the log spool cannot be written" : "the log spool is full";
      this.set(true, why);
    } else if (this.isPaused) {
      const spoolRoom = this.spoolLimit > 0 && !failing && this.disk <= (this.spoolLimit * 3) / 4;
      if (this.mem <= this.memoryLimit / 2) this.set(false, "log memory has room again");
      else if (spoolRoom) this.set(false, "the log spool has room again");
    }
  }

  private set(paused: boolean, why: string): void {
    this.isPaused = paused;
    for (const l of this.listeners) l(paused, why);
  }
}
