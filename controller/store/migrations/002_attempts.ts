import { sql, type Kysely } from "kysely";

// Retries and lost agents (issue 3): every ended attempt is kept, a retry waits
// for not_before, and an agent can be marked lost.
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`alter table runs add column not_before timestamptz`.execute(db);
  // Retries consumed; differs from attempt - 1 when an attempt was requeued
  // because its agent was lost before it started (that costs no retry).
  await sql`alter table runs add column retries integer not null default 0`.execute(db);
  await sql`drop index runs_queue_idx`.execute(db);
  await sql`create index runs_queue_idx on runs (priority desc, id) where state = 'queued'`.execute(db);
  await sql`create index runs_not_before_idx on runs (not_before) where state = 'queued' and not_before is not null`.execute(db);
  await sql`
    create table run_attempts (
      run_id bigint not null references runs (id) on delete cascade,
      attempt integer not null,
      state text not null,
      reason text,
      exit_code integer,
      signal text,
      message text not null default '',
      agent_id text,
      started_at timestamptz,
      finished_at timestamptz not null,
      log_chunks bigint not null default 0,
      primary key (run_id, attempt)
    )`.execute(db);
  await sql`alter table agents drop constraint agents_state_check`.execute(db);
  await sql`alter table agents add constraint agents_state_check check (state in ('connected','disconnected','draining','lost'))`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`drop table run_attempts`.execute(db);
  await sql`drop index runs_not_before_idx`.execute(db);
  await sql`alter table runs drop column not_before, drop column retries`.execute(db);
}
