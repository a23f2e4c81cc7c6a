/**
 * The NOTIFY payload: compact JSON, one event, well under PostgreSQL's 8000
 * bytes (ids, numbers and a capped reason; never job documents or log bytes).
 * The store builds the same object in SQL (controller/store/notify.ts) from
 * these keys.
 */
import { RUN_EVENT_TYPES, type HodeiEvent, type RunEventType } from "./events.js";
import type { RunState } from "../runs/transitions.js";

export const CHANNEL = "hodei_events";

/** JSON keys of the payload: o origin, t type, r run, a attempt, s state, g agent, n next seq, m reason, d deadline. */
interface Wire {
  o: string;
  t: string;
  r?: string;
  a?: number;
  s?: string;
  g?: string | null;
  n?: number;
  m?: string;
  d?: number;
}

export function encode(ev: HodeiEvent, origin: string): string {
  switch (ev.type) {
    case "log:appended":
      return JSON.stringify({ o: origin, t: ev.type, r: ev.runId, a: ev.attempt, n: ev.nextSeq } satisfies Wire);
    case "stdin:appended":
      return JSON.stringify({ o: origin, t: ev.type, r: ev.runId, n: ev.nextSeq } satisfies Wire);
    case "agent:drain":
      return JSON.stringify({ o: origin, t: ev.type, g: ev.agentId, m: ev.reason.slice(0, 1000), d: ev.deadlineMs } satisfies Wire);
    case "agent:revoked":
      return JSON.stringify({ o: origin, t: ev.type, g: ev.agentId } satisfies Wire);
    case "bus:resync":
      return JSON.stringify({ o: origin, t: ev.type } satisfies Wire);
    default:
      return JSON.stringify({ o: origin, t: ev.type, r: ev.runId, a: ev.attempt, s: ev.state, g: ev.agentId } satisfies Wire);
  }
}

/** The event and its origin, or undefined for a payload this version does not understand. */
export function decode(payload: string): { origin: string; event: HodeiEvent } | undefined {
  let w: Wire;
  try {
    w = JSON.parse(payload) as Wire;
  } catch {
    return undefined;
  }
  if (typeof w !== "object" || w === null || typeof w.o !== "string" || typeof w.t !== "string") return undefined;
  const origin = w.o;
  if (w.t === "log:appended" && typeof w.r === "string" && typeof w.a === "number" && typeof w.n === "number") {
    return { origin, event: { type: "log:appended", runId: w.r, attempt: w.a, nextSeq: w.n } };
  }
  if (w.t === "stdin:appended" && typeof w.r === "string" && typeof w.n === "number") {
    return { origin, event: { type: "stdin:appended", runId: w.r, nextSeq: w.n } };
  }
  if (w.t === "agent:drain" && typeof w.g === "string") {
    return { origin, event: { type: "agent:drain", agentId: w.g, reason: String(w.m ?? ""), deadlineMs: Number(w.d ?? 0) } };
  }
  if (w.t === "agent:revoked" && typeof w.g === "string") return { origin, event: { type: "agent:revoked", agentId: w.g } };
  if (w.t === "bus:resync") return { origin, event: { type: "bus:resync" } };
  if ((RUN_EVENT_TYPES as readonly string[]).includes(w.t) && typeof w.r === "string" && typeof w.a === "number" && typeof w.s === "string") {
    return { origin, event: { type: w.t as RunEventType, runId: w.r, attempt: w.a, state: w.s as RunState, agentId: w.g ?? null } };
  }
  return undefined;
}
