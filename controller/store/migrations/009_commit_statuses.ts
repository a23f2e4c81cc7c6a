import { sql, type Kysely } from "kysely";

// Commit statuses posted back to GitHub (issue 8; controller/gitops/status.ts).
// One row per status Hodei means to post, keyed by what it stands for:
// `run/<id>/pending`, `run/<id>/final` (a run has one final state), or
// `skip/<repo>/<commit>/<job>` (a path filter skipped a job that asked for a
// "skipped" check). The primary key is the claim: every controller on the
// database hears every run event, and only the one whose insert wins posts,
// so each status is posted once. `owner` and `lease_until` let a sweep take
// over a row whose poster stopped (a restart) before it posted or gave up.
// outcome: todo (being posted), posted, failed (gave up; last_error says
// why), superseded (a pending overtaken by the run's final status).
// Numbered 009: 008 is taken by work on another branch.
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    create table commit_statuses (
      key text primary key constraint commit_statuses_key_length check (char_length(key) between 1 and 1000),
      repo_id bigint not null references repos (id) on delete cascade,
      run_id bigint references runs (id) on delete cascade,
      commit text not null,
      context text not null,
      state text not null check (state in ('pending', 'success', 'failure', 'error')),
      description text not null,
      outcome text not null default 'todo' check (outcome in ('todo', 'posted', 'failed', 'superseded')),
      owner text not null,
      lease_until timestamptz not null,
      attempts integer not null default 0,
      last_error text,
      created_at timestamptz not null default now(),
      updated_at timestamptz not null default now()
    )`.execute(db);
  await sql`create index commit_statuses_todo on commit_statuses (lease_until) where outcome = 'todo'`.execute(db);
  await sql`create index commit_statuses_errors on commit_statuses (repo_id, updated_at desc) where last_error is not null`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`drop table commit_statuses`.execute(db);
}
