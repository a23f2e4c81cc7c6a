/**
 * What the controller announces about runs and agents, as typed `noun:verb`
 * events. Events are for observing, not for holding the truth: a listener
 * that needs more than an event carries reads the store. The same shape
 * crosses processes (PostgreSQL NOTIFY, 8000 bytes at most), so an event
 * names rows and never carries a job document; log bytes ride along only
 * within one process (`chunks`), and a listener without them reads the store.
 */
import type { RunState } from "../runs/transitions.js";

/**
 * - created: a run was submitted (queued).
 * - assigned: the dispatcher placed it on an agent.
 * - started: its agent reported the process started.
 * - finished: it reached a final state (succeeded, failed, cancelled, timed_out).
 * - retried: an attempt ended and the run queued again as attempt + 1.
 * - cancelled: a cancel was requested while it was assigned or running (its agent must be told).
 * - requeued: an assignment went back to the queue (never started, or its agent was lost).
 */
export type RunEventType = "run:created" | "run:assigned" | "run:started" | "run:finished" | "run:retried" | "run:cancelled" | "run:requeued";

export interface RunEvent {
  type: RunEventType;
  runId: string;
  /** The run's attempt after the change. */
  attempt: number;
  state: RunState;
  agentId: string | null;
}

export interface LogChunk {
  seq: number;
  stream: number;
  data: Uint8Array;
  tsMs: number;
}

/** Chunks of an attempt were stored; `nextSeq` is the next sequence expected. */
export interface LogAppended {
  type: "log:appended";
  runId: string;
  attempt: number;
  nextSeq: number;
  /** The stored chunks, only when announced in the process that stored them. */
  chunks?: LogChunk[];
}

/**
 * Stdin chunks of a run (`hodei run -i`) were stored; `nextSeq` is the next
 * sequence expected. Never carries the bytes: readers take them from the store.
 */
export interface StdinAppended {
  type: "stdin:appended";
  runId: string;
  nextSeq: number;
}

/** An operator asked an agent to drain; the controller holding its stream tells it. */
export interface AgentDrain {
  type: "agent:drain";
  agentId: string;
  reason: string;
  deadlineMs: number;
}

/** An operator revoked an agent's credential; the controller holding its stream closes it. */
export interface AgentRevoked {
  type: "agent:revoked";
  agentId: string;
}

/**
 * Events may have been missed (the listening connection was lost and is back):
 * every listener re-reads what it watches from the store.
 */
export interface BusResync {
  type: "bus:resync";
}

export type HodeiEvent = RunEvent | LogAppended | StdinAppended | AgentDrain | AgentRevoked | BusResync;
export type Listener = (ev: HodeiEvent) => void;

export const RUN_EVENT_TYPES: readonly RunEventType[] = ["run:created", "run:assigned", "run:started", "run:finished", "run:retried", "run:cancelled", "run:requeued"];

export function isRunEvent(ev: HodeiEvent): ev is RunEvent {
  return ev.type.startsWith("run:");
}
