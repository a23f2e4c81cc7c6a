import { sql, type Kysely } from "kysely";

// Resume points for watchers (issue 10; controller/store/watch.ts).
// runs.change_xid: the transaction (xid8) that last changed what a watcher
// shows of the run (its state, attempt, agent, times, cancel request); a
// trigger sets it, so no write can forget to. A watcher's resume point is the
// PostgreSQL snapshot (pg_snapshot) of its last read: the runs changed since
// are exactly those whose change_xid that snapshot does not see, which holds
// even when transactions commit out of the order their ids were taken (a
// sequence number would miss a slow transaction's change). Rows from before
// this migration keep xid 1, which every snapshot sees. Log appends (which
// only move log_chunks) leave it alone: a flood must not wake every watcher.
// Numbered 014: 013 is taken by work on another branch.
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`alter table runs add column change_xid xid8 not null default '1'::xid8`.execute(db);
  await sql`create index runs_change_xid on runs (change_xid)`.execute(db);
  await sql`
    create function runs_mark_change() returns trigger language plpgsql as $$
    begin
      if tg_op = 'INSERT'
        or (new.state, new.attempt, new.agent_id, new.cancel_requested, new.started_at, new.finished_at, new.assigned_at, new.not_before, new.reason, new.exit_code)
          is distinct from (old.state, old.attempt, old.agent_id, old.cancel_requested, old.started_at, old.finished_at, old.assigned_at, old.not_before, old.reason, old.exit_code)
      then
        new.change_xid := pg_current_xact_id();
      end if;
      return new;
    end $$`.execute(db);
  await sql`create trigger runs_mark_change before insert or update on runs for each row execute function runs_mark_change()`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`drop trigger runs_mark_change on runs`.execute(db);
  await sql`drop function runs_mark_change()`.execute(db);
  await sql`alter table runs drop column change_xid`.execute(db);
}
