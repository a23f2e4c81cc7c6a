/**
 * The SQL of commit statuses posted to GitHub (migrations/009_commit_statuses.ts).
 *
 * A status is claimed by inserting its row: INSERT ... ON CONFLICT DO NOTHING
 * on the key, so of several controllers hearing the same run event exactly
 * one inserts and posts. The claimer holds a lease (owner, lease_until); every
 * later write names the owner, so a poster whose row was taken over after its
 * lease ran out (it stalled or restarted) can no longer change it.
 */
import { sql } from "kysely";
import type { Db } from "./db.js";
import type { CommitStatusOutcome, CommitStatusRow, CommitStatusState } from "./schema.js";
import { inStates } from "./sql-states.js";
import { TERMINAL_STATES } from "../runs/transitions.js";

export interface NewCommitStatus {
  key: string;
  repoId: string;
  runId?: string;
  commit: string;
  context: string;
  state: CommitStatusState;
  description: string;
}

/** Claims the status for `owner` for `leaseMs`; the row when this call inserted it, undefined when it already existed. */
export async function claimStatus(db: Db, s: NewCommitStatus, owner: string, leaseMs: number): Promise<CommitStatusRow | undefined> {
  return db
    .insertInto("commit_statuses")
    .values({
      key: s.key,
      repo_id: s.repoId,
      run_id: s.runId ?? null,
      commit: s.commit,
      context: s.context,
      state: s.state,
      description: s.description,
      owner,
      lease_until: sql<Date>`now() + ${leaseMs} * interval '1 millisecond'`,
    })
    .onConflict((oc) => oc.column("key").doNothing())
    .returningAll()
    .executeTakeFirst();
}

export async function getStatus(db: Db, key: string): Promise<CommitStatusRow | undefined> {
  return db.selectFrom("commit_statuses").selectAll().where("key", "=", key).executeTakeFirst();
}

/**
 * Records one posting attempt of a status `owner` holds: `error` null when it
 * was posted; `outcome` posted or failed when done, todo while retrying (the
 * lease then runs `leaseMs` from now, so a long wait does not lose it).
 * False when the row is no longer the owner's to change.
 */
export async function recordAttempt(db: Db, key: string, owner: string, outcome: CommitStatusOutcome, error: string | null, leaseMs = 0): Promise<boolean> {
  const r = await db
    .updateTable("commit_statuses")
    .set((eb) => ({
      outcome,
      attempts: eb("attempts", "+", 1),
      last_error: error,
      updated_at: sql<Date>`now()`,
      ...(outcome === "todo" && leaseMs > 0 ? { lease_until: sql<Date>`now() + ${leaseMs} * interval '1 millisecond'` } : {}),
    }))
    .where("key", "=", key)
    .where("owner", "=", owner)
    .where("outcome", "=", "todo")
    .executeTakeFirst();
  return r.numUpdatedRows > 0n;
}

/** A pending status not yet posted will not be: the run's final status overtakes it. */
export async function supersedePending(db: Db, runId: string): Promise<void> {
  await db
    .updateTable("commit_statuses")
    .set({ outcome: "superseded", updated_at: sql<Date>`now()` })
    .where("key", "=", `run/${runId}/pending`)
    .where("outcome", "=", "todo")
    .execute();
}

/** Ends the leases `owner` holds on statuses not yet posted, so a sweep (here or in a peer) takes them over at once. */
export async function releaseClaims(db: Db, owner: string): Promise<void> {
  await db
    .updateTable("commit_statuses")
    .set({ lease_until: sql<Date>`now() - interval '1 millisecond'` })
    .where("owner", "=", owner)
    .where("outcome", "=", "todo")
    .execute();
}

/**
 * Takes over up to `limit` statuses whose poster's lease ran out before it
 * posted or gave up (it restarted, or stalled), for `owner`.
 */
export async function takeOverStale(db: Db, owner: string, leaseMs: number, limit: number): Promise<CommitStatusRow[]> {
  const r = await sql<CommitStatusRow>`
    with stale as (
      select key from commit_statuses
      where outcome = 'todo' and lease_until < now()
      order by lease_until
      limit ${limit}
      for update skip locked
    )
    update commit_statuses c set owner = ${owner}, lease_until = now() + ${leaseMs} * interval '1 millisecond', updated_at = now()
    from stale where c.key = stale.key
    returning c.*`.execute(db);
  return r.rows;
}

/**
 * Runs of these repos that name a commit, created within the last `windowMs`,
 * with no status row for where they are: no final row once they ended, no
 * pending row before. What a sweep posts when the controller that should have
 * was down.
 */
export async function runsMissingStatus(db: Db, repoIds: readonly string[], windowMs: number, limit: number): Promise<string[]> {
  if (repoIds.length === 0) return [];
  const r = await sql<{ id: string }>`
    select r.id from runs r
    where r.repo_id in (${sql.join(repoIds)})
      and r.trigger ->> 'commit' is not null
      and r.created_at > now() - ${windowMs} * interval '1 millisecond'
      and not exists (
        select 1 from commit_statuses c
        where c.key = 'run/' || r.id || case when r.state in (${inStates(TERMINAL_STATES)}) then '/final' else '/pending' end
      )
    order by r.id
    limit ${limit}`.execute(db);
  return r.rows.map((x) => String(x.id));
}

/** The newest statuses of a repo that failed to post (given up, or still retrying), newest first. */
export async function statusFailures(db: Db, repoId: string, limit: number): Promise<CommitStatusRow[]> {
  return db
    .selectFrom("commit_statuses")
    .selectAll()
    .where("repo_id", "=", repoId)
    .where("last_error", "is not", null)
    .where("outcome", "in", ["todo", "failed"])
    .orderBy("updated_at", "desc")
    .limit(limit)
    .execute();
}
