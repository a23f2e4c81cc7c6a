import type { Run, Agent, Attempt, Trigger } from "../../proto/gen/hodei/v1/control.js";
import type { RunAttemptRow } from "../store/schema.js";
import type { RunRow } from "../store/schema.js";
import type { AgentRow } from "../store/schema.js";
import type { AgentSession } from "../agents/session.js";

/** A time as milliseconds since the epoch on the wire; 0 for none. */
export const ms = (d: Date | null): number => (d ? d.getTime() : 0);

type AttemptLike = Omit<RunAttemptRow, "finished_at"> & { finished_at: Date | null; agent_name?: string | null };

export function attemptToProto(a: AttemptLike): Attempt {
  return {
    attempt: a.attempt,
    state: a.state,
    reason: a.reason ?? "",
    exitCode: a.exit_code ?? undefined,
    signal: a.signal ?? "",
    message: a.message,
    agentId: a.agent_id ?? "",
    agentName: a.agent_name ?? "",
    startedAtMs: ms(a.started_at),
    finishedAtMs: ms(a.finished_at),
    logChunks: Number(a.log_chunks),
  };
}

/** The current attempt, from the run row (it is recorded in run_attempts only once it ends). */
function currentAttempt(r: RunRow & { agent_name?: string | null }): Attempt {
  return attemptToProto({ ...r, run_id: r.id });
}

/** Ended attempts as recorded, then the current one (recorded too once the run has ended). */
function attemptHistory(r: RunRow & { agent_name?: string | null }, history: (RunAttemptRow & { agent_name?: string | null })[]): Attempt[] {
  const current = history.find((a) => a.attempt === r.attempt);
  return [...history.filter((a) => a.attempt !== r.attempt).map(attemptToProto), current ? attemptToProto(current) : currentAttempt(r)];
}

export function runToProto(r: RunRow & { agent_name?: string | null }, history?: (RunAttemptRow & { agent_name?: string | null })[]): Run {
  return {
    id: r.id,
    jobName: r.job_name,
    state: r.state,
    attempt: r.attempt,
    exitCode: r.exit_code ?? undefined,
    signal: r.signal ?? "",
    reason: r.reason ?? "",
    message: r.message,
    agentId: r.agent_id ?? "",
    agentName: r.agent_name ?? "",
    createdAtMs: ms(r.created_at),
    startedAtMs: ms(r.started_at),
    finishedAtMs: ms(r.finished_at),
    priority: r.priority,
    source: r.source,
    logChunks: Number(r.log_chunks),
    attempts: history ? attemptHistory(r, history) : [],
    notBeforeMs: r.state === "queued" ? ms(r.not_before) : 0,
    unschedulableReason: "",
    stdin: r.stdin,
    trigger: triggerToProto(r.trigger),
    inPlaceDir: r.workspace_dir ?? "",
    project: r.project,
    submittedBy: r.submitted_by ?? "",
  };
}

/** runs.trigger (gitops/pushes.ts RunTrigger, jsonb) for the wire; undefined for a run submitted from a file. */
export function triggerToProto(t: unknown): Trigger | undefined {
  if (t === null || typeof t !== "object") return undefined;
  const o = t as Record<string, unknown>;
  const str = (v: unknown): string => (typeof v === "string" ? v : "");
  return {
    event: str(o.event),
    repo: str(o.repo),
    ref: str(o.ref),
    commit: str(o.commit),
    before: str(o.before),
    base: str(o.base),
    actor: str(o.actor),
    deliveryId: str(o.deliveryId),
    fork: o.fork === true,
    via: str(o.via),
  };
}

export function agentToProto(a: AgentRow, live: AgentSession | undefined): Agent {
  const hb = live?.heartbeat ?? a.heartbeat ?? {};
  return {
    id: a.id,
    name: a.name,
    state: live ? (live.draining ? "draining" : "connected") : a.state === "connected" ? "disconnected" : a.state,
    labels: a.labels,
    slots: a.slots,
    running: live?.running.size ?? 0,
    version: a.version,
    killMethod: a.kill_method,
    cpuPercent: hb.cpuPercent ?? 0,
    memoryUsedBytes: hb.memoryUsedBytes ?? 0,
    memoryTotalBytes: hb.memoryTotalBytes ?? 0,
    connectedAtMs: a.connected_at.getTime(),
    lastSeenMs: live ? live.lastSeen : a.last_seen_at.getTime(),
  };
}
