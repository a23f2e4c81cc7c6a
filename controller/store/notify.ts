/**
 * Announcing run changes from the statement that commits them. With a bus
 * that `notifies` (PostgreSQL), the write is wrapped so the NOTIFY rides in
 * the same statement, one per changed row, delivered by PostgreSQL only if
 * the transaction commits. After the commit the caller emits the events to
 * this process (`emitRuns`); the store functions do both, so no caller can
 * forget an announcement. A write that leaves a run in a final state always
 * announces `run:finished`, whatever else it did (a requeue of a cancelled
 * assignment, an attempt's end with no retry).
 */
import { sql, type OperationNodeSource, type RawBuilder } from "kysely";
import type { Bus } from "../bus/bus.js";
import type { RunEvent, RunEventType } from "../bus/events.js";
import { CHANNEL } from "../bus/wire.js";
import type { Db } from "./db.js";
import type { RunRow } from "./schema.js";
import { inStates } from "./sql-states.js";
import { TERMINAL_STATES, isTerminal } from "../runs/transitions.js";

/** A write (query builder or raw SQL) returning the changed run rows (`returning *`). */
export type RunWrite = OperationNodeSource;

/**
 * Runs `q` (a single statement, no WITH of its own) on `db` (a pool or a
 * transaction); with a notifying bus, with its NOTIFY inside.
 */
export async function writeRuns(db: Db, bus: Bus, type: RunEventType, q: RunWrite): Promise<RunRow[]> {
  if (!bus.notifies) return (await sql<RunRow>`${q}`.execute(db)).rows;
  return (await sql<RunRow>`with u as (${q}) select u.* from u ${notifyEach(bus, type, "u")}`.execute(db)).rows;
}

/**
 * For a statement with CTEs of its own (PostgreSQL allows data-modifying CTEs
 * only at the top level): a join to put after `from ALIAS` in its final select,
 * sending one NOTIFY per row of ALIAS; empty when the bus does not notify.
 */
export function notifyEach(bus: Bus, type: RunEventType, alias: string): RawBuilder<unknown> {
  if (!bus.notifies) return sql``;
  const u = sql.ref(alias);
  return sql`cross join lateral (select pg_notify(${CHANNEL}, json_build_object('o', ${bus.origin}::text,
    't', case when ${u}.state in (${inStates(TERMINAL_STATES)}) then 'run:finished' else ${type}::text end,
    'r', ${u}.id::text, 'a', ${u}.attempt, 's', ${u}.state, 'g', ${u}.agent_id)::text)) notified`;
}

export function runEvent(type: RunEventType, run: RunRow): RunEvent {
  return { type: isTerminal(run.state) ? "run:finished" : type, runId: String(run.id), attempt: run.attempt, state: run.state, agentId: run.agent_id };
}

/** After the commit: this process's listeners hear it. */
export function emitRuns(bus: Bus, type: RunEventType, rows: readonly RunRow[]): void {
  for (const r of rows) bus.emit(runEvent(type, r));
}

/** One committed single-statement write: write, then announce. */
export async function changeRuns(s: { db: Db; bus: Bus }, type: RunEventType, q: RunWrite): Promise<RunRow[]> {
  const rows = await writeRuns(s.db, s.bus, type, q);
  emitRuns(s.bus, type, rows);
  return rows;
}
