/**
 * The event bus: how one part of the controller hears what another committed,
 * in this process or (PostgreSQL) in any process on the same database.
 *
 * Two implementations: InProcessBus (the embedded default and tests) and
 * PostgresBus (LISTEN/NOTIFY). Writers in the store announce a change in two
 * halves: with `notifies`, the NOTIFY rides inside the committing statement,
 * so nothing is announced before it is durable and a rolled-back write
 * announces nothing; after the commit, `emit` delivers the event to this
 * process's listeners at once. Listeners cannot break the emitter
 * (graphile-worker's safeEmit): a throwing listener is reported and skipped.
 */
import type { HodeiEvent, Listener, LogAppended } from "./events.js";

export interface Bus {
  /** Whether store writes must carry a NOTIFY (so other processes hear them). */
  readonly notifies: boolean;
  /** Identifies this process's notifications, so it does not deliver its own twice. */
  readonly origin: string;
  /** Delivers a committed event to this process's listeners. Never throws. */
  emit(ev: HodeiEvent): void;
  /** Announces an event that no store write carries (an agent drain), here and in other processes. */
  publish(ev: HodeiEvent): Promise<void>;
  /**
   * Tells other processes, after the commit and best-effort, that log chunks
   * were stored. Coalesced per run: while one NOTIFY for a run is in flight,
   * later ones fold into one more carrying the newest `nextSeq` (a flood would
   * otherwise cost a NOTIFY per batch). Never throws.
   */
  forwardLog(ev: LogAppended): void;
  subscribe(listener: Listener): () => void;
  /** Starts hearing other processes (PostgreSQL); resolves once listening. */
  start(): Promise<void>;
  close(): Promise<void>;
}

/** Fan-out to this process's listeners, shared by both buses. */
export class Listeners {
  private readonly set = new Set<Listener>();

  constructor(private readonly onListenerError: (err: unknown, ev: HodeiEvent) => void = () => {}) {}

  add(listener: Listener): () => void {
    this.set.add(listener);
    return () => this.set.delete(listener);
  }

  deliver(ev: HodeiEvent): void {
    for (const l of this.set) {
      try {
        l(ev);
      } catch (err) {
        // A listener's failure is its own; the write that announced this already committed.
        try {
          this.onListenerError(err, ev);
        } catch {
          // even the reporter may not break the emitter
        }
      }
    }
  }

  get size(): number {
    return this.set.size;
  }
}

export class InProcessBus implements Bus {
  readonly notifies = false;
  readonly origin = "local";
  private readonly listeners: Listeners;

  constructor(onListenerError?: (err: unknown, ev: HodeiEvent) => void) {
    this.listeners = new Listeners(onListenerError);
  }

  emit(ev: HodeiEvent): void {
    this.listeners.deliver(ev);
  }

  publish(ev: HodeiEvent): Promise<void> {
    this.emit(ev);
    return Promise.resolve();
  }

  forwardLog(): void {
    // no other process to tell
  }

  subscribe(listener: Listener): () => void {
    return this.listeners.add(listener);
  }

  start(): Promise<void> {
    return Promise.resolve();
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}
