/**
 * What the controller does with an agent's reports about a run. Each checks
 * that the (run, attempt) is one this session is executing; the store's
 * compare-and-set writes refuse anything late or fenced off.
 */
import type { Logger } from "pino";
import type { LogBatch, RunFinished, RunStarted } from "../../proto/gen/hodei/v1/agent.js";
import { FinishReason as PbReason } from "../../proto/gen/hodei/v1/common.js";
import type { ActiveAttempt, AgentSession } from "./session.js";
import { LogStream } from "../../proto/gen/hodei/v1/common.js";
import { markStarted, type Writer } from "../store/runs.js";
import { appendChunks, logBytesOf } from "../store/logs.js";

interface StoredChunk {
  seq: number;
  stream: LogStream;
  data: Buffer;
  tsMs: number;
}
import { ChunkMasker } from "../logs/mask.js";
import { endAttempt } from "../runs/end-attempt.js";
import type { FinishReason } from "../runs/transitions.js";

/** What handling a report needs. The store announces every change it makes on its bus. */
export interface ReportDeps {
  store: Writer;
  log: Logger;
  /** The most log bytes one attempt stores (0 or undefined: no limit); config.ts. */
  maxLogBytes?: number;
}

export async function handleRunStarted(deps: ReportDeps, session: AgentSession, m: RunStarted): Promise<void> {
  const active = session.running.get(m.runId);
  if (!active || active.attempt !== m.attempt) return;
  active.started = true;
  await markStarted(deps.store, m.runId, m.attempt, new Date(m.startedAtMs || Date.now()));
}

export async function handleLogBatch(deps: ReportDeps, session: AgentSession, m: LogBatch): Promise<void> {
  const end = m.firstSeq + m.chunks.length;
  const active = session.running.get(m.runId);
  if (!active || active.attempt !== m.attempt) {
    // Not an attempt we expect from this agent: refuse the bytes, but let the agent drop them.
    session.send({ msg: { $case: "logAck", value: { runId: m.runId, attempt: m.attempt, nextSeq: end, endRecorded: true } } });
    return;
  }
  const limit = deps.maxLogBytes ?? 0;
  if (limit > 0 && active.logBytes === undefined) {
    active.logBytes = await logBytesOf(deps.store.db, m.runId, m.attempt);
    // Counted after a reconnect: at the limit means the marker is stored already.
    if (active.logBytes >= limit) active.truncated = true;
  }
  if (active.truncated) {
    // Over the limit: the agent may forget these (its sequence runs ahead of what is stored, so no gap check).
    session.send({ msg: { $case: "logAck", value: { runId: m.runId, attempt: m.attempt, nextSeq: Math.max(active.nextSeq, end), endRecorded: false } } });
    return;
  }
  if (m.firstSeq > active.nextSeq) {
    // A gap can only come from a broken agent; storing past it would reorder bytes.
    deps.log.warn({ run: m.runId, expected: active.nextSeq, got: m.firstSeq }, "log batch skips sequence numbers; refused");
    session.send({ msg: { $case: "logAck", value: { runId: m.runId, attempt: m.attempt, nextSeq: active.nextSeq, endRecorded: false } } });
    return;
  }
  const skip = active.nextSeq - m.firstSeq; // already stored (resent after a reconnect)
  // Masked again before stored (controller/logs/mask.ts): the agent should have masked it already.
  const masker = (active.masker ??= new ChunkMasker(active.maskValues ?? []));
  let fresh = m.chunks.slice(skip).map((c, i) => ({ seq: active.nextSeq + i, stream: c.stream, data: masker.mask(c.stream, c.data), tsMs: c.tsMs }));
  if (limit > 0) fresh = withinLimit(active, fresh, limit);
  if (fresh.length > 0) {
    const next = await appendChunks(deps.store, m.runId, m.attempt, fresh);
    if (next === undefined) {
      session.running.delete(m.runId);
    } else {
      active.nextSeq = next;
    }
  }
  session.send({ msg: { $case: "logAck", value: { runId: m.runId, attempt: m.attempt, nextSeq: Math.max(active.nextSeq, end), endRecorded: false } } });
}

/**
 * The chunks that fit under the attempt's log size limit; the one that
 * crosses it is cut, and a system chunk saying so follows it (the same
 * sequence goes on: nothing is reordered, and the marker is the log's end).
 */
function withinLimit(active: ActiveAttempt, chunks: StoredChunk[], limit: number): StoredChunk[] {
  const kept: StoredChunk[] = [];
  for (const c of chunks) {
    const room = limit - (active.logBytes ?? 0);
    if (c.data.length <= room) {
      kept.push(c);
      active.logBytes = (active.logBytes ?? 0) + c.data.length;
      continue;
    }
    if (room > 0) kept.push({ ...c, data: c.data.subarray(0, room) });
    const marker = `\nhodei: this attempt's log reached the controller's limit of ${limit} bytes; later output was dropped (the controller's --max-log-size sets the limit)\n`;
    kept.push({ seq: c.seq + (room > 0 ? 1 : 0), stream: LogStream.LOG_STREAM_SYSTEM, data: Buffer.from(marker), tsMs: c.tsMs });
    active.logBytes = limit;
    active.truncated = true;
    break;
  }
  return kept;
}

const REASONS: Record<number, FinishReason> = {
  [PbReason.FINISH_REASON_EXITED]: "exited",
  [PbReason.FINISH_REASON_SIGNALED]: "signaled",
  [PbReason.FINISH_REASON_TIMEOUT]: "timeout",
  [PbReason.FINISH_REASON_CANCELLED]: "cancelled",
  [PbReason.FINISH_REASON_SPAWN_FAILED]: "spawn_failed",
  [PbReason.FINISH_REASON_INFRASTRUCTURE]: "infrastructure",
  [PbReason.FINISH_REASON_CHECKOUT]: "checkout",
};

export async function handleRunFinished(deps: ReportDeps, session: AgentSession, m: RunFinished): Promise<void> {
  const active = session.running.get(m.runId);
  if (active && active.attempt === m.attempt) {
    await endAttempt(deps.store, m.runId, m.attempt, {
      reason: REASONS[m.reason] ?? "infrastructure",
      exitCode: m.exitCode ?? null,
      signal: m.signal || null,
      message: m.message,
      at: new Date(m.finishedAtMs || Date.now()),
    });
    // The slot is free; the dispatcher heard the run end and passes on the next turn.
    session.running.delete(m.runId);
  }
  // Its end is recorded (or refused for good: late, fenced off, not ours): the agent may forget the attempt.
  session.send({ msg: { $case: "logAck", value: { runId: m.runId, attempt: m.attempt, nextSeq: active?.nextSeq ?? m.logChunks, endRecorded: true } } });
}
