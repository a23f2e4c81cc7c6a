/**
 * The run queue's SQL, in one place: submit, claim, and the compare-and-set
 * writes behind every state change. Every update names the states it expects,
 * derived from the state machine (`fromStates`), and the attempt, so two
 * controllers, a late agent report or a retry can never move a run twice; a
 * write that matches nothing returns undefined. Every write that changes a run
 * announces it on the store's bus (controller/store/notify.ts).
 */
import { sql } from "kysely";
import type { Db, Store } from "./db.js";
import type { RunRow, RunState } from "./schema.js";
import { fromStates, isTerminal } from "../runs/transitions.js";
import { changeRuns, emitRuns, notifyEach } from "./notify.js";
import { inStates } from "./sql-states.js";

/** What a write needs: the connection and the bus it announces on. */
export type Writer = Pick<Store, "db" | "bus">;

const ASSIGNABLE = fromStates({ type: "assign" });
const STARTABLE = fromStates({ type: "start" });
/** A cancel that ends the run at once (queued) versus one the agent must carry out. */
const CANCEL_ENDS = fromStates({ type: "cancel" }, (next) => isTerminal(next));
const CANCEL_ASKS = fromStates({ type: "cancel" }, (next, from) => next === from);
const REQUEUEABLE = fromStates({ type: "requeue" });
const UNSCHEDULABLE = fromStates({ type: "unschedulable" });
/** Runs that hold an agent's slot. */
export const ACTIVE = fromStates({ type: "log" });

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
  /** The run's source bundle (store/sources.ts), stored before the run. */
  sourceDigest?: string;
  /** Where a repo-triggered run came from (gitops/pushes.ts). */
  trigger?: unknown;
  /** The repository whose commit it runs at. */
  repoId?: string;
  /** The job's stdin comes from stdin_chunks (store/stdin.ts). */
  stdin?: boolean;
  /** `hodei run --in-place`: the directory that is the run's workspace. */
  workspaceDir?: string;
  /** The run's project; by default the repo's (repoId), else "default". */
  project?: string;
  /** The name of the token that submitted it. */
  submittedBy?: string;
}

/**
 * Inserts a queued run; with an idempotency key already used, returns the
 * first run instead (created: false), whose request_hash the caller compares.
 */
export async function insertRun(s: Writer, input: SubmitInput): Promise<{ run: RunRow; created: boolean }> {
  const db = s.db;
  const [inserted] = await changeRuns(s, "run:created", db
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
      source_digest: input.sourceDigest ?? null,
      trigger: input.trigger === undefined ? null : JSON.stringify(input.trigger),
      repo_id: input.repoId ?? null,
      stdin: input.stdin ?? false,
      workspace_dir: input.workspaceDir ?? null,
      project:
        input.project ??
        (input.repoId !== undefined
          ? sql<string>`coalesce((select project from repos where id = ${input.repoId}), 'default')`
          : "default"),
      submitted_by: input.submittedBy ?? null,
    })
    .onConflict((oc) => oc.column("idempotency_key").doNothing())
    .returningAll());
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
export async function claimRuns(s: Writer, agentId: string, labels: Record<string, string>, limit: number): Promise<RunRow[]> {
  if (limit <= 0) return [];
  const r = await sql<RunRow>`
    with claimable as (
      select id from runs
      where state in (${inStates(ASSIGNABLE)}) and selector <@ ${JSON.stringify(labels)}::jsonb
        and (not_before is null or not_before <= now())
      order by priority desc, id
      limit ${limit}
      for update skip locked
    ), claimed as (
      update runs set state = ${"assigned" satisfies RunState}, agent_id = ${agentId}, assigned_at = now()
      from claimable where runs.id = claimable.id
      returning runs.*
    )
    select claimed.* from claimed ${notifyEach(s.bus, "run:assigned", "claimed")}`.execute(s.db);
  const rows = r.rows;
  emitRuns(s.bus, "run:assigned", rows);
  return rows.sort((a, b) => b.priority - a.priority || Number(a.id) - Number(b.id));
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
  /** Only runs triggered from this repository. */
  repoId?: string;
  /** Only runs of these projects (a project-scoped token); undefined: all. */
  projects?: readonly string[];
}

export async function listRuns(db: Db, f: ListRunsFilter): Promise<RunView[]> {
  let q = withAgent(db).orderBy("runs.id", "desc").limit(f.limit);
  if (f.states?.length) q = q.where("runs.state", "in", f.states);
  if (f.jobName) q = q.where("runs.job_name", "=", f.jobName);
  if (f.beforeId) q = q.where("runs.id", "<", f.beforeId);
  if (f.repoId) q = q.where("runs.repo_id", "=", f.repoId);
  // A project-scoped caller's view; undefined: every project.
  if (f.projects) q = f.projects.length ? q.where("runs.project", "in", f.projects) : q.where(sql<boolean>`false`);
  return q.execute();
}

/** The latest run of each job of a repository, by job name. */
export async function lastRunsOfRepoJobs(db: Db, repoId: string): Promise<Map<string, RunView>> {
  const latest = db.selectFrom("runs").select((eb) => eb.fn.max("id").as("id")).where("repo_id", "=", repoId).groupBy("job_name");
  const rows = await withAgent(db).where("runs.id", "in", latest).execute();
  return new Map(rows.map((r) => [r.job_name, r]));
}

/** assigned → running, for the attempt the agent was given. */
export async function markStarted(s: Writer, id: string, attempt: number, at: Date): Promise<RunRow | undefined> {
  const [row] = await changeRuns(s, "run:started", s.db
    .updateTable("runs")
    .set({ state: "running", started_at: at })
    .where("id", "=", id)
    .where("attempt", "=", attempt)
    .where("state", "in", STARTABLE)
    .returningAll());
  return row;
}

/** queued → cancelled. */
export async function cancelQueued(s: Writer, id: string, message: string): Promise<RunRow | undefined> {
  const [row] = await changeRuns(s, "run:finished", s.db
    .updateTable("runs")
    .set({ state: "cancelled", reason: "cancelled", message, finished_at: new Date(), cancel_requested: true })
    .where("id", "=", id)
    .where("state", "in", CANCEL_ENDS)
    .returningAll());
  return row;
}

/** Marks an assigned or running run as cancel-requested; the agent reports the end. */
export async function requestCancel(s: Writer, id: string, message: string): Promise<RunRow | undefined> {
  const [row] = await changeRuns(s, "run:cancelled", s.db
    .updateTable("runs")
    .set({ cancel_requested: true, message })
    .where("id", "=", id)
    .where("state", "in", CANCEL_ASKS)
    .returningAll());
  return row;
}

/** Runs on one agent that have not ended. */
export async function activeRunsOfAgent(db: Db, agentId: string): Promise<RunRow[]> {
  return db.selectFrom("runs").selectAll().where("agent_id", "=", agentId).where("state", "in", ACTIVE).execute();
}

/** Whether an active run of this agent names the source bundle `digest` (AgentService.FetchSource serves it only then). */
export async function agentHasSource(db: Db, agentId: string, digest: string): Promise<boolean> {
  const r = await db.selectFrom("runs").select("id").where("agent_id", "=", agentId).where("source_digest", "=", digest).where("state", "in", ACTIVE).limit(1).executeTakeFirst();
  return r !== undefined;
}

/** Queued runs an agent with these labels could take (for idle checks). */
export async function countClaimable(db: Db, labels: Record<string, string>): Promise<number> {
  const r = await sql<{ n: string }>`
    select count(*)::text as n from runs where state in (${inStates(ASSIGNABLE)}) and selector <@ ${JSON.stringify(labels)}::jsonb`.execute(db);
  return Number(r.rows[0]?.n ?? 0);
}

/**
 * assigned → queued: an assignment that never started goes back to the queue.
 * If a cancel was requested meanwhile, it ends cancelled instead (nothing else
 * would ever cancel it once queued with the flag set).
 */
export async function requeueAssigned(s: Writer, id: string, attempt: number): Promise<RunRow | undefined> {
  const [row] = await changeRuns(s, "run:requeued", s.db
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
    .where("state", "in", REQUEUEABLE)
    .returningAll());
  return row;
}

/** Queued runs, waiting longer than `olderThanMs`, whose selector no agent in `agents` satisfies. */
export async function unplaceableRuns(db: Db, agentLabels: Record<string, string>[], olderThanMs: number): Promise<RunRow[]> {
  const fits = agentLabels.map((l) => sql`selector <@ ${JSON.stringify(l)}::jsonb`);
  return sql<RunRow>`
    select * from runs
    where state in (${inStates(ASSIGNABLE)}) and created_at < now() - ${`${olderThanMs} milliseconds`}::interval
      ${fits.length ? sql`and not (${sql.join(fits, sql` or `)})` : sql``}
    order by id limit 1000`.execute(db).then((r) => r.rows);
}

/** queued → failed (unschedulable), with why. */
export async function failUnschedulable(s: Writer, id: string, message: string): Promise<RunRow | undefined> {
  const [row] = await changeRuns(s, "run:finished", s.db
    .updateTable("runs")
    .set({ state: "failed", reason: "unschedulable", message, finished_at: new Date() })
    .where("id", "=", id)
    .where("state", "in", UNSCHEDULABLE)
    .returningAll());
  return row;
}
