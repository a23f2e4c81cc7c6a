/**
 * Ending an attempt: the attempt is recorded in run_attempts and the run
 * either queues again as attempt + 1 (the caller's retry decision) or ends,
 * in one transaction with the run row locked, so a late or duplicate report
 * can never end an attempt twice. Whether to retry is not the store's to
 * decide: the caller passes the decision as a function of the locked row
 * (controller/runs/end-attempt.ts).
 */
import { sql } from "kysely";
import type { Db } from "./db.js";
import type { RunAttemptRow, RunRow } from "./schema.js";
import { fromStates, outcomeState, type FinishReason } from "../runs/transitions.js";
import { emitRuns, notifyEach, writeRuns } from "./notify.js";
import { inStates } from "./sql-states.js";
import type { Writer } from "./runs.js";

const FINISHABLE = fromStates({ type: "finish", reason: "exited", exitCode: 0 });
const REQUEUEABLE = fromStates({ type: "requeue" });

export interface AttemptOutcome {
  reason: FinishReason;
  exitCode: number | null;
  signal: string | null;
  message: string;
  at: Date;
}

export interface AttemptEnded {
  /** The run after the write: queued again (retried) or in its final state. */
  run: RunRow;
  /** The attempt as recorded. */
  attempt: RunAttemptRow;
  retried: boolean;
}

export interface RetryDecision {
  retry: boolean;
  /** Wait before the next attempt may start. */
  delayMs: number;
}

/** The caller's retry policy for one outcome. */
export interface RetryPolicy {
  /** False when no policy could retry this outcome (a success, a cancel): the run ends in one statement. */
  mayRetry: boolean;
  /** Decides from the locked row (its job's policy, retries spent, whether a cancel was asked). */
  decide(run: RunRow): RetryDecision;
}

const NEVER: RetryPolicy = { mayRetry: false, decide: () => ({ retry: false, delayMs: 0 }) };

export async function finishAttempt(s: Writer, id: string, attempt: number, o: AttemptOutcome, policy: RetryPolicy = NEVER): Promise<AttemptEnded | undefined> {
  // The common case ends the run whatever its policy says: one statement instead of a
  // five-round-trip transaction. Anything else (a retry may follow, or the report is
  // refused) takes the general path below.
  if (!policy.mayRetry) return finishFinal(s, id, attempt, o);
  const fast = await finishFinal(s, id, attempt, o, true);
  if (fast) return fast;
  const ended = await s.db.transaction().execute(async (tx) => {
    const cur = await tx
      .selectFrom("runs")
      .selectAll()
      .where("id", "=", id)
      .where("attempt", "=", attempt)
      .where("state", "in", FINISHABLE)
      .forUpdate()
      .executeTakeFirst();
    if (!cur) return undefined;
    const state = outcomeState(o.reason, o.exitCode);
    // A cancel we asked for keeps the message recorded with the request (who asked, and why).
    const message = cur.cancel_requested && o.reason === "cancelled" && cur.message ? cur.message : o.message;
    const recorded = await tx
      .insertInto("run_attempts")
      .values({
        run_id: id, attempt, state, reason: o.reason, exit_code: o.exitCode, signal: o.signal, message,
        agent_id: cur.agent_id, started_at: cur.started_at, finished_at: o.at, log_chunks: cur.log_chunks,
      })
      .returningAll()
      .executeTakeFirstOrThrow();
    const decision = policy.decide(cur);
    const [run] = decision.retry
      ? await writeRuns(tx, s.bus, "run:retried", tx
          .updateTable("runs")
          .set({
            state: "queued", attempt: attempt + 1, retries: cur.retries + 1, agent_id: null, assigned_at: null, started_at: null,
            exit_code: null, signal: null, reason: null, log_chunks: "0",
            message: `attempt ${attempt} ${describe(state, o)}; retrying`,
            not_before: sql<Date>`now() + ${`${decision.delayMs} milliseconds`}::interval`,
          })
          .where("id", "=", id)
          .returningAll())
      : await writeRuns(tx, s.bus, "run:finished", tx
          .updateTable("runs")
          .set({ state, reason: o.reason, exit_code: o.exitCode, signal: o.signal, message, finished_at: o.at })
          .where("id", "=", id)
          .returningAll());
    return { run: run!, attempt: recorded, retried: decision.retry };
  });
  if (ended) emitRuns(s.bus, ended.retried ? "run:retried" : "run:finished", [ended.run]);
  return ended;
}

/**
 * Ends the attempt and the run in one statement: the run row is updated under
 * the same compare-and-set as the general path and the attempt is recorded from
 * the updated row. With `onlyWithoutRetries`, only when no retry can follow (no
 * policy, or a cancel was requested); otherwise nothing is written.
 */
async function finishFinal(s: Writer, id: string, attempt: number, o: AttemptOutcome, onlyWithoutRetries = false): Promise<AttemptEnded | undefined> {
  const state = outcomeState(o.reason, o.exitCode);
  // A data-modifying CTE runs to completion whether or not the outer query reads it.
  const r = await sql<RunRow>`
    with ended as (
      update runs set
        state = ${state}, reason = ${o.reason}, exit_code = ${o.exitCode}, signal = ${o.signal}, finished_at = ${o.at},
        -- A cancel we asked for keeps the message recorded with the request (who asked, and why).
        message = case when cancel_requested and ${o.reason} = 'cancelled' and message <> '' then message else ${o.message} end
      where id = ${id} and attempt = ${attempt} and state in (${inStates(FINISHABLE)})
        ${onlyWithoutRetries ? sql`and (cancel_requested or job->'spec'->'retries' is null)` : sql``}
      returning *
    ), recorded as (
      insert into run_attempts (run_id, attempt, state, reason, exit_code, signal, message, agent_id, started_at, finished_at, log_chunks)
      select id, attempt, state, reason, exit_code, signal, message, agent_id, started_at, finished_at, log_chunks from ended
    )
    select ended.* from ended ${notifyEach(s.bus, "run:finished", "ended")}`.execute(s.db);
  const run = r.rows[0];
  if (!run) return undefined;
  emitRuns(s.bus, "run:finished", [run]);
  return {
    run,
    attempt: { run_id: run.id, attempt, state: run.state, reason: run.reason, exit_code: run.exit_code, signal: run.signal, message: run.message, agent_id: run.agent_id, started_at: run.started_at, finished_at: o.at, log_chunks: run.log_chunks },
    retried: false,
  };
}

/**
 * An assigned run whose agent was lost before it reported a start: it queues
 * again as attempt + 1 (so a late report from the old agent is fenced off)
 * without spending a retry, since the job may never have run; or, when its
 * cancel was requested meanwhile, ends cancelled.
 */
export async function requeueLost(s: Writer, id: string, attempt: number, message: string): Promise<RunRow | undefined> {
  const row = await s.db.transaction().execute(async (tx) => {
    const cur = await tx.selectFrom("runs").selectAll().where("id", "=", id).where("attempt", "=", attempt).where("state", "in", REQUEUEABLE).forUpdate().executeTakeFirst();
    if (!cur) return undefined;
    await tx
      .insertInto("run_attempts")
      .values({ run_id: id, attempt, state: "failed", reason: "infrastructure", exit_code: null, signal: null, message, agent_id: cur.agent_id, started_at: null, finished_at: new Date(), log_chunks: cur.log_chunks })
      .execute();
    // A cancel asked for meanwhile ends the run: nothing would cancel it once queued.
    const [after] = await writeRuns(tx, s.bus, "run:requeued", cur.cancel_requested
      ? tx
        .updateTable("runs")
        .set({ state: "cancelled", reason: "cancelled", finished_at: new Date(), agent_id: null })
        .where("id", "=", id)
        .returningAll()
      : tx
        .updateTable("runs")
        .set({ state: "queued", attempt: attempt + 1, agent_id: null, assigned_at: null, log_chunks: "0", message })
        .where("id", "=", id)
        .returningAll());
    return after;
  });
  if (row) emitRuns(s.bus, "run:requeued", [row]);
  return row;
}

export async function listAttempts(db: Db, runId: string): Promise<(RunAttemptRow & { agent_name: string | null })[]> {
  return db
    .selectFrom("run_attempts")
    .leftJoin("agents", "agents.id", "run_attempts.agent_id")
    .selectAll("run_attempts")
    .select("agents.name as agent_name")
    .where("run_attempts.run_id", "=", runId)
    .orderBy("run_attempts.attempt")
    .execute();
}

/** Milliseconds until the earliest queued retry may start, if any waits. */
export async function nextRetryInMs(db: Db): Promise<number | undefined> {
  const r = await sql<{ ms: string | null }>`
    select (extract(epoch from min(not_before) - now()) * 1000)::bigint::text as ms
    from runs where state = 'queued' and not_before is not null and not_before > now()`.execute(db);
  const ms = r.rows[0]?.ms;
  return ms == null ? undefined : Math.max(0, Number(ms));
}

function describe(state: string, o: AttemptOutcome): string {
  if (o.reason === "exited") return `failed with exit code ${o.exitCode}`;
  if (o.reason === "signaled") return `was killed by ${o.signal}`;
  if (o.reason === "timeout") return "timed out";
  return `${state} (${o.reason}${o.message ? `: ${o.message}` : ""})`;
}
