/**
 * Routes what the bus announces about runs to the log followers of each run
 * in this process: stored log chunks (with their bytes when they were stored
 * here), stored stdin chunks (for the agents' ReadStdin), attempt and run
 * changes, and catch-ups after a bus gap. Followers
 * read anything they lack from the store, so the hub holds nothing itself.
 */
import type { Bus } from "../bus/bus.js";
import type { BusResync, HodeiEvent, LogAppended, RunEvent, StdinAppended } from "../bus/events.js";

export type FollowerEvent = LogAppended | StdinAppended | RunEvent | BusResync;

/** Must not throw or block: it is called from the write that announced. */
export type Follower = (ev: FollowerEvent) => void;

export class LogHub {
  private readonly followers = new Map<string, Set<Follower>>();
  private readonly unsubscribe: () => void;

  constructor(bus: Bus) {
    this.unsubscribe = bus.subscribe((ev) => this.route(ev));
  }

  subscribe(runId: string, follower: Follower): () => void {
    let set = this.followers.get(runId);
    if (!set) this.followers.set(runId, (set = new Set()));
    set.add(follower);
    return () => {
      set.delete(follower);
      if (set.size === 0 && this.followers.get(runId) === set) this.followers.delete(runId);
    };
  }

  get followerCount(): number {
    let n = 0;
    for (const s of this.followers.values()) n += s.size;
    return n;
  }

  close(): void {
    this.unsubscribe();
  }

  private route(ev: HodeiEvent): void {
    if (ev.type === "agent:drain" || ev.type === "agent:revoked") return;
    const sets = ev.type === "bus:resync" ? [...this.followers.values()] : [this.followers.get(ev.runId)];
    for (const set of sets) {
      for (const f of set ?? []) {
        try {
          f(ev);
        } catch {
          // A follower's failure is its own; the write that announced must go on.
        }
      }
    }
  }
}
