import { sql, type Kysely } from "kysely";

// Schedules (issue 8): one row per tick of a scheduled job that started a run.
// The primary key is the claim: a tick is inserted at most once, in the same
// transaction that creates its run, so each tick starts exactly one run however
// many controllers share the database and whichever of them restarts
// (controller/store/schedules.ts). job_key names the job definition (opaque to
// the store); tick_at is the tick's instant, which every controller computes
// alike from the cron expression and time zone (controller/scheduler/ticks.ts).
// Numbered 007: 005 and 006 are taken by work on other branches.
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    create table schedule_ticks (
      job_key text not null constraint schedule_ticks_job_key_length check (char_length(job_key) between 1 and 1000),
      tick_at timestamptz not null,
      run_id bigint references runs (id) on delete set null,
      claimed_at timestamptz not null default now(),
      primary key (job_key, tick_at)
    )`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`drop table schedule_ticks`.execute(db);
}
