/**
 * Schedule ticks: each tick of each scheduled job starts exactly one run.
 *
 * A tick is claimed by inserting (job_key, tick_at) into schedule_ticks in the
 * same transaction that creates its run: INSERT ... ON CONFLICT DO NOTHING on
 * the primary key, so of several controllers claiming one tick exactly one
 * inserts (the others wait for its commit and then insert nothing), and a
 * claimer that dies or fails before committing leaves no row and no run: the
 * tick stays claimable. The claim also refuses a tick older than one already
 * claimed for the job, so a controller that lags behind never fires a tick its
 * peers have moved past (the catch-up rule: never a burst); a per-job advisory
 * lock, held until the commit, makes that check exact between claimers.
 *
 * The run is made by the caller's `createRun` (the store knows nothing of
 * jobs), with a Writer whose announcements wait for the commit: a rolled-back
 * claim announces nothing, here or (NOTIFY rides in the transaction) elsewhere.
 */
import { sql } from "kysely";
import type { Bus } from "../bus/bus.js";
import type { HodeiEvent } from "../bus/events.js";
import type { Db } from "./db.js";
import type { Writer } from "./runs.js";

/** Creates the tick's run through `w` (inside the claim's transaction) and returns its id. */
export type TickRunMaker = (w: Writer) => Promise<string>;

export type TickClaim =
  | { claimed: true; runId: string }
  /** Another claimer has this tick, or a newer one of the job. */
  | { claimed: false };

export async function claimTick(s: Writer, jobKey: string, tickAt: Date, createRun: TickRunMaker): Promise<TickClaim> {
  const held: HodeiEvent[] = [];
  const bus = s.bus;
  const afterCommit: Bus = {
    notifies: bus.notifies,
    origin: bus.origin,
    emit: (ev) => void held.push(ev),
    publish: (ev) => bus.publish(ev),
    forwardLog: (ev) => bus.forwardLog(ev),
    subscribe: (l) => bus.subscribe(l),
    start: () => bus.start(),
    close: () => bus.close(),
  };
  const runId = await s.db.transaction().execute(async (tx) => {
    await sql`select pg_advisory_xact_lock(hashtextextended(${`hodei.schedule_ticks:${jobKey}`}, 0))`.execute(tx);
    const inserted = await sql<{ tick_at: Date }>`
      insert into schedule_ticks (job_key, tick_at)
      select ${jobKey}, ${tickAt}::timestamptz
      where not exists (select 1 from schedule_ticks where job_key = ${jobKey} and tick_at > ${tickAt}::timestamptz)
      on conflict (job_key, tick_at) do nothing
      returning tick_at`.execute(tx);
    if (inserted.rows.length === 0) return undefined;
    const id = await createRun({ db: tx, bus: afterCommit });
    await tx.updateTable("schedule_ticks").set({ run_id: id }).where("job_key", "=", jobKey).where("tick_at", "=", tickAt).execute();
    return id;
  });
  for (const ev of held) s.bus.emit(ev);
  return runId === undefined ? { claimed: false } : { claimed: true, runId };
}

/** The newest tick claimed for the job, or null if none ever was. */
export async function lastClaimedTick(db: Db, jobKey: string): Promise<Date | null> {
  const row = await db
    .selectFrom("schedule_ticks")
    .select((eb) => eb.fn.max("tick_at").as("last"))
    .where("job_key", "=", jobKey)
    .executeTakeFirst();
  return row?.last ? new Date(row.last) : null;
}

/** The newest claimed tick of each of these jobs (jobs with none are absent). */
export async function lastClaimedTicks(db: Db, jobKeys: readonly string[]): Promise<Map<string, Date>> {
  if (jobKeys.length === 0) return new Map();
  const rows = await db
    .selectFrom("schedule_ticks")
    .select((eb) => ["job_key", eb.fn.max("tick_at").as("last")])
    .where("job_key", "in", jobKeys)
    .groupBy("job_key")
    .execute();
  return new Map(rows.map((r) => [r.job_key, new Date(r.last)]));
}

/**
 * Deletes ticks claimed before `before`, keeping each job's newest (the
 * catch-up rule reads it). Returns how many rows went.
 */
export async function forgetTicksBefore(db: Db, before: Date): Promise<number> {
  const r = await sql`
    delete from schedule_ticks t
    where t.tick_at < ${before}::timestamptz
      and exists (select 1 from schedule_ticks n where n.job_key = t.job_key and n.tick_at > t.tick_at)`.execute(db);
  return Number(r.numAffectedRows ?? 0);
}
