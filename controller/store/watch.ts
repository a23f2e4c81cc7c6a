/**
 * What watchers (ControlService.WatchRuns) read: a snapshot of runs with the
 * point it was taken at, and the runs changed since such a point.
 *
 * A point is a PostgreSQL snapshot (`pg_snapshot`, "xmin:xmax:xip,..."):
 * which transactions had committed when the read ran. Every change a watcher
 * shows stamps the run with its transaction (runs.change_xid, set by the
 * trigger of migration 014), so "changed since point P" is exactly "stamped
 * by a transaction P does not see": committed later, or still running at P
 * (and so read once it has committed). Out-of-order commits cannot hide a
 * change, as they could behind a sequence number.
 */
import { sql } from "kysely";
import type { Db } from "./db.js";
import type { RunView } from "./runs.js";
import type { RunState } from "./schema.js";

export interface WatchFilter {
  /** undefined: every project; empty: none (a scoped token asked only for projects it cannot see). */
  projects?: readonly string[];
  jobs: readonly string[];
  /** The trigger's repo name (`hodei repos ls`). */
  repos: readonly string[];
  states: readonly RunState[];
}

/** "xmin:xmax:xip,xip,...", as PostgreSQL prints a pg_snapshot. */
export type Point = string;

const withAgent = (db: Db) => db.selectFrom("runs").leftJoin("agents", "agents.id", "runs.agent_id").selectAll("runs").select("agents.name as agent_name");
type RunQuery = ReturnType<typeof withAgent>;

function filtered(q: RunQuery, f: WatchFilter, withStates: boolean): RunQuery {
  if (f.projects) q = f.projects.length ? q.where("runs.project", "in", f.projects) : q.where(sql<boolean>`false`);
  if (f.jobs.length) q = q.where("runs.job_name", "in", f.jobs);
  if (f.repos.length) q = q.where(sql<boolean>`runs.trigger->>'repo' in (${sql.join(f.repos)})`);
  if (withStates && f.states.length) q = q.where("runs.state", "in", f.states);
  return q;
}

/** The newest `limit` runs the filter matches, newest first, and the point they were read at. */
export async function runsSnapshot(db: Db, f: WatchFilter, limit: number): Promise<{ runs: RunView[]; point: Point }> {
  // One snapshot for both statements: nothing committed between them is lost or doubled.
  return db.transaction().setIsolationLevel("repeatable read").execute(async (tx) => {
    const point = (await sql<{ p: string }>`select pg_current_snapshot()::text as p`.execute(tx)).rows[0]!.p;
    const runs = await filtered(withAgent(tx), f, true).orderBy("runs.id", "desc").limit(limit).execute();
    return { runs, point };
  });
}

/**
 * Runs the filter matches (whatever their state: a watcher must hear a run
 * leave the states it follows) changed since `since`, oldest change first; at
 * most `limit` + 1 (more than `limit` tells the caller to start over from a
 * snapshot), and the point of this read.
 */
export async function runsChangedSince(db: Db, since: Point, f: WatchFilter, limit: number): Promise<{ runs: RunView[]; point: Point }> {
  return db.transaction().setIsolationLevel("repeatable read").execute(async (tx) => {
    const point = (await sql<{ p: string }>`select pg_current_snapshot()::text as p`.execute(tx)).rows[0]!.p;
    const runs = await filtered(withAgent(tx), f, false)
      .where(sql<boolean>`runs.change_xid >= pg_snapshot_xmin(${since}::pg_snapshot)`)
      .where(sql<boolean>`not pg_visible_in_snapshot(runs.change_xid, ${since}::pg_snapshot)`)
      .orderBy(sql`runs.change_xid`)
      .orderBy("runs.id")
      .limit(limit + 1)
      .execute();
    return { runs, point };
  });
}

/** The point now (to check a client's point is not from the future or another database). */
export async function currentPoint(db: Db): Promise<Point> {
  return (await sql<{ p: string }>`select pg_current_snapshot()::text as p`.execute(db)).rows[0]!.p;
}
