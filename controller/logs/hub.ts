/**
 * Live fan-out of stored log chunks and run ends to followers in this process.
 * Only data already committed is published, so a follower that reads the
 * backlog from the database and then the hub sees every chunk exactly once
 * (it drops what it already has by sequence number).
 *
 * Listeners must not be able to crash the publisher (an agent's stream): each
 * call is guarded.
 */
import type { RunAttemptRow, RunRow } from "../store/schema.js";
import type { LogEntry } from "../../proto/gen/hodei/v1/control.js";

export interface LogListener {
  chunks(attempt: number, entries: LogEntry[]): void;
  end(run: RunRow): void;
  /** An attempt ended and the run queued again for another. */
  attemptEnd?(attempt: RunAttemptRow, run: RunRow): void;
}

export class LogHub {
  private readonly listeners = new Map<string, Set<LogListener>>();

  subscribe(runId: string, listener: LogListener): () => void {
    let set = this.listeners.get(runId);
    if (!set) this.listeners.set(runId, (set = new Set()));
    set.add(listener);
    return () => {
      set.delete(listener);
      if (set.size === 0) this.listeners.delete(runId);
    };
  }

  publishChunks(runId: string, attempt: number, entries: LogEntry[]): void {
    for (const l of this.listeners.get(runId) ?? []) safe(() => l.chunks(attempt, entries));
  }

  publishAttemptEnd(attempt: RunAttemptRow, run: RunRow): void {
    for (const l of this.listeners.get(run.id) ?? []) safe(() => l.attemptEnd?.(attempt, run));
  }

  publishEnd(run: RunRow): void {
    for (const l of this.listeners.get(run.id) ?? []) safe(() => l.end(run));
  }

  get followerCount(): number {
    let n = 0;
    for (const s of this.listeners.values()) n += s.size;
    return n;
  }
}

function safe(fn: () => void): void {
  try {
    fn();
  } catch {
    // A follower's failure is its own; the stream that published must go on.
  }
}
