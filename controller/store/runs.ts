/**
 * The run queue's SQL, in one place: submit, claim, and the compare-and-set
 * writes behind every state change. Every update names the state (and attempt)
 * it expects, so two controllers, a late agent report or a retry can never
 * move a run twice; a write that matches nothing returns undefined.
 */
import { sql } from "kysely";
import type { Db } from "./db.js";
import type { RunRow, RunState } from "./schema.js";

export interface SubmitInput {
  jobName: string;
  job: unknown;
  selector: Record<string, string>;
  priority: number;
  source: string;
  idempotencyKey?: string;
  /**
   * What the key stands for (a hash of the request), stored with the run so a
   * later use of the key can tell a retry from a different request.
   */
  requestHash?: string;
}

/**
 * Inserts a queued run; with an idempotency key already used, returns the
 * first run instead (created: false), whose request_hash the caller compares.
 */
export async function insertRun(db: Db, input: SubmitInput): Promise<{ run: RunRow; created: boolean }> {
  const inserted = await db
    .insertInto("runs")
    .values({
      job_name: input.jobName,
      state: "queued",
      job: JSON.stringify(input.job),
      selector: JSON.stringify(input.selector),
      priority: input.priority,
      source: input.source,
      idempotency_key: input.idempotencyKey || null,
      request_hash: input.requestHash ?? null,
    })
    .onConflict((oc) => oc.column("idempotency_key").doNothing())
    .returningAll()
    .executeTakeFirst();
  if (inserted) return { run: inserted, created: true };
  const existing = await db
    .selectFrom("runs")
    .selectAll()
    .where("idempotency_key", "=", input.idempotencyKey ?? "")
    .executeTakeFirstOrThrow();
  return { run: existing, created: false };
}

/**
 * Claims up to `limit` queued runs an agent with `labels` may take, best
 * priority then oldest, and marks them assigned to it. SKIP LOCKED lets
 * several dispatchers (or controllers) claim concurrently without waiting.
 */
export async function claimRuns(db: Db, agentId: string, labels: Record<string, string>, limit: number): Promise<RunRow[]> {
  if (limit <= 0) return [];
  const result = await sql<RunRow>`
    with claimable as (
      select id from runs
      where state = 'queued' and selector <@ ${JSON.stringify(labels)}::jsonb
        and (not_before is null or not_before <= now())
      order by priority desc, id
      limit ${limit}
      for update skip locked
    )
    update runs set state = 'assigned', agent_id = ${agentId}, assigned_at = now()
    from claimable where runs.id = claimable.id
    returning runs.*`.execute(db);
  return result.rows.sort((a, b) => b.priority - a.priority || Number(a.id) - Number(b.id));
}

/** A run with the name of the agent it was placed on, for people. */
export type RunView = RunRow & { agent_name: string | null };

const withAgent = (db: Db) => db.selectFrom("runs").leftJoin("agents", "agents.id", "runs.agent_id").selectAll("runs").select("agents.name as agent_name");

export async function getRun(db: Db, id: string): Promise<RunView | undefined> {
  if (!/^\d{1,18}$/.test(id)) return undefined;
  return withAgent(db).where("runs.id", "=", id).executeTakeFirst();
}

export interface ListRunsFilter {
  limit: number;
  states?: RunState[];
  jobName?: string;
  beforeId?: string;
}

export async function listRuns(db: Db, f: ListRunsFilter): Promise<RunView[]> {
  let q = withAgent(db).orderBy("runs.id", "desc").limit(f.limit);
  if (f.states?.length) q = q.where("runs.state", "in", f.states);
  if (f.jobName) q = q.where("runs.job_name", "=", f.jobName);
  if (f.beforeId) q = q.where("runs.id", "<", f.beforeId);
  return q.execute();
}

/** assigned → running, for the attempt the agent was given. */
export async function markStarted(db: Db, id: string, attempt: number, at: Date): Promise<RunRow | undefined> {
  return db
    .updateTable("runs")
    .set({ state: "running", started_at: at })
    .where("id", "=", id)
    .where("attempt", "=", attempt)
    .where("state", "=", "assigned")
    .returningAll()
    .executeTakeFirst();
}

/** queued → cancelled. */
export async function cancelQueued(db: Db, id: string, message: string): Promise<RunRow | undefined> {
  return db
    .updateTable("runs")
    .set({ state: "cancelled", reason: "cancelled", message, finished_at: new Date(), cancel_requested: true })
    .where("id", "=", id)
    .where("state", "=", "queued")
    .returningAll()
    .executeTakeFirst();
}

/** Marks an assigned or running run as cancel-requested; the agent reports the end. */
export async function requestCancel(db: Db, id: string, message: string): Promise<RunRow | undefined> {
  return db
    .updateTable("runs")
    .set({ cancel_requested: true, message })
    .where("id", "=", id)
    .where("state", "in", ["assigned", "running"])
    .returningAll()
    .executeTakeFirst();
}

/** Runs on one agent that have not ended. */
export async function activeRunsOfAgent(db: Db, agentId: string): Promise<RunRow[]> {
  return db.selectFrom("runs").selectAll().where("agent_id", "=", agentId).where("state", "in", ["assigned", "running"]).execute();
}

/** Queued runs an agent with these labels could take (for idle checks). */
export async function countClaimable(db: Db, labels: Record<string, string>): Promise<number> {
  const r = await sql<{ n: string }>`
    select count(*)::text as n from runs where state = 'queued' and selector <@ ${JSON.stringify(labels)}::jsonb`.execute(db);
  return Number(r.rows[0]?.n ?? 0);
}

/**
 * assigned → queued: an assignment that never started goes back to the queue.
 * If a cancel was requested meanwhile, it ends cancelled instead (nothing else
 * would ever cancel it once queued with the flag set).
 */
export async function requeueAssigned(db: Db, id: string, attempt: number): Promise<RunRow | undefined> {
  return db
    .updateTable("runs")
    .set({
      state: sql<RunState>`case when cancel_requested then 'cancelled' else 'queued' end`,
      reason: sql<string | null>`case when cancel_requested then 'cancelled' else null end`,
      finished_at: sql<Date | null>`case when cancel_requested then now() else null end`,
      agent_id: null,
      assigned_at: null,
    })
    .where("id", "=", id)
    .where("attempt", "=", attempt)
    .where("state", "=", "assigned")
    .returningAll()
    .executeTakeFirst();
}

/** Queued runs, waiting longer than `olderThanMs`, whose selector no agent in `agents` satisfies. */
export async function unplaceableRuns(db: Db, agentLabels: Record<string, string>[], olderThanMs: number): Promise<RunRow[]> {
  const fits = agentLabels.map((l) => sql`selector <@ ${JSON.stringify(l)}::jsonb`);
  return sql<RunRow>`
    select * from runs
    where state = 'queued' and created_at < now() - ${`${olderThanMs} milliseconds`}::interval
      ${fits.length ? sql`and not (${sql.join(fits, sql` or `)})` : sql``}
    order by id limit 1000`.execute(db).then((r) => r.rows);
}

/** queued → failed (unschedulable), with why. */
export async function failUnschedulable(db: Db, id: string, message: string): Promise<RunRow | undefined> {
  return db
    .updateTable("runs")
    .set({ state: "failed", reason: "unschedulable", message, finished_at: new Date() })
    .where("id", "=", id)
    .where("state", "=", "queued")
    .returningAll()
    .executeTakeFirst();
}
