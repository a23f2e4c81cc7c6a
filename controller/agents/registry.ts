/**
 * The agents connected to this controller process, by id: the one place that
 * holds their sessions. Everything else asks it (get, byName, withFreeSlots,
 * send) rather than reaching into a shared map.
 */
import type { ControllerMessage } from "../../proto/gen/hodei/v1/agent.js";
import type { AgentSession } from "./session.js";

export class AgentRegistry {
  private readonly sessions = new Map<string, AgentSession>();
  private readonly watchers = new Set<() => void>();

  /** Registers a session (replacing none: the caller closed any old one first). */
  add(session: AgentSession): void {
    this.sessions.set(session.id, session);
    this.changed();
  }

  /** Removes `session` if it is still the registered one for its id; true if it was. */
  remove(session: AgentSession): boolean {
    if (this.sessions.get(session.id) !== session) return false;
    this.sessions.delete(session.id);
    this.changed();
    return true;
  }

  get(id: string): AgentSession | undefined {
    return this.sessions.get(id);
  }

  byName(name: string): AgentSession | undefined {
    for (const s of this.sessions.values()) if (s.name === name) return s;
    return undefined;
  }

  all(): AgentSession[] {
    return [...this.sessions.values()];
  }

  get size(): number {
    return this.sessions.size;
  }

  /** Sessions that may take work now. */
  withFreeSlots(): AgentSession[] {
    return this.all().filter((s) => s.free > 0);
  }

  /** Sends to the agent if it is connected here; false otherwise (or if its stream is gone). */
  send(agentId: string, msg: ControllerMessage): boolean {
    return this.sessions.get(agentId)?.send(msg) ?? false;
  }

  /** Calls `fn` on every change (an agent came, left, or a session's work changed: see `changed`). */
  watch(fn: () => void): () => void {
    this.watchers.add(fn);
    return () => this.watchers.delete(fn);
  }

  /** Something about the sessions changed (their running work too): wake watchers. */
  changed(): void {
    for (const w of this.watchers) {
      try {
        w();
      } catch {
        // a watcher's failure is its own
      }
    }
  }

  /** Resolves with the first session `match` accepts, now or when one connects; undefined after `timeoutMs`. */
  waitFor(match: (s: AgentSession) => boolean, timeoutMs: number): Promise<AgentSession | undefined> {
    const now = this.all().find(match);
    if (now) return Promise.resolve(now);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        stop();
        resolve(undefined);
      }, timeoutMs);
      const stop = this.watch(() => {
        const s = this.all().find(match);
        if (!s) return;
        clearTimeout(timer);
        stop();
        resolve(s);
      });
    });
  }
}
