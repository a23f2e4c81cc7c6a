import { sql, type Kysely } from "kysely";

// Plain SQL that both PostgreSQL 15 and PGlite (PostgreSQL 18) accept.
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    create table runs (
      id bigint generated always as identity primary key,
      job_name text not null,
      state text not null check (state in ('queued','assigned','running','succeeded','failed','cancelled','timed_out')),
      attempt integer not null default 1 check (attempt >= 1),
      priority integer not null default 0,
      job jsonb not null,
      selector jsonb not null default '{}'::jsonb,
      source text not null default '',
      idempotency_key text unique,
      agent_id text,
      exit_code integer,
      signal text,
      reason text,
      message text not null default '',
      log_chunks bigint not null default 0,
      cancel_requested boolean not null default false,
      created_at timestamptz not null default now(),
      assigned_at timestamptz,
      started_at timestamptz,
      finished_at timestamptz
    )`.execute(db);
  // The dispatcher's claim reads only queued runs, best priority then oldest.
  await sql`create index runs_queue_idx on runs (priority desc, id) where state = 'queued'`.execute(db);
  await sql`create index runs_agent_active_idx on runs (agent_id) where state in ('assigned','running')`.execute(db);
  await sql`create index runs_job_name_idx on runs (job_name, id desc)`.execute(db);
  await sql`
    create table log_chunks (
      run_id bigint not null references runs (id) on delete cascade,
      attempt integer not null,
      seq bigint not null,
      stream smallint not null,
      data bytea not null,
      ts_ms bigint not null,
      primary key (run_id, attempt, seq)
    )`.execute(db);
  await sql`
    create table agents (
      id text primary key,
      name text not null,
      state text not null check (state in ('connected','disconnected','draining')),
      labels jsonb not null default '{}'::jsonb,
      slots integer not null,
      version text not null default '',
      kill_method text not null default '',
      heartbeat jsonb,
      connected_at timestamptz not null,
      last_seen_at timestamptz not null
    )`.execute(db);
  await sql`create unique index agents_name_idx on agents (name)`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`drop table log_chunks`.execute(db);
  await sql`drop table runs`.execute(db);
  await sql`drop table agents`.execute(db);
}
