import { sql, type Kysely } from "kysely";

// Repositories of job definitions (issue 8). A repo's definitions are stored
// per commit and never change once read, so a run always uses the definition
// at its own commit and a sync only reads commits it has not read before.
//
// - repos: what `hodei repos add` registered. Credentials (token, webhook
//   secret) live here and are never returned by ls/get. sync_lease_* keep two
//   syncs of one repo from running at once, across controllers.
// - repo_refs: the commit each branch and tag of the mirror pointed at after
//   the last sync; a sync compares with it to find pushes (polling).
// - repo_commits: one row per commit whose definitions were read, with every
//   validation error as FILE:LINE:COL: message.
// - job_definitions: the valid Job documents at a commit.
// - repo_pushes: one row per (repo, ref, commit) that was acted on, whether it
//   arrived by webhook, poll or both: the first insert wins, so a commit never
//   triggers twice.
// - repo_syncs: the history of syncs (when, how long, which commit, error).
// - runs.trigger / runs.repo_id: where a run came from.
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    create table repos (
      id bigint generated always as identity primary key,
      name text not null unique check (name ~ '^[a-z0-9][a-z0-9._-]{0,62}$'),
      url text not null,
      branch text not null,
      path text not null,
      platform boolean not null default false,
      webhook_secret text,
      token text,
      poll_interval_ms integer not null check (poll_interval_ms >= 0),
      created_at timestamptz not null default now(),
      sync_lease_owner text,
      sync_lease_until timestamptz,
      last_sync_at timestamptz,
      last_sync_ms integer,
      last_sync_commit text,
      last_sync_error text
    )`.execute(db);
  await sql`
    create table repo_refs (
      repo_id bigint not null references repos (id) on delete cascade,
      ref text not null,
      commit text not null,
      primary key (repo_id, ref)
    )`.execute(db);
  await sql`
    create table repo_commits (
      repo_id bigint not null references repos (id) on delete cascade,
      commit text not null,
      errors jsonb not null default '[]',
      read_at timestamptz not null default now(),
      primary key (repo_id, commit)
    )`.execute(db);
  await sql`
    create table job_definitions (
      repo_id bigint not null references repos (id) on delete cascade,
      commit text not null,
      name text not null,
      file text not null,
      job jsonb not null,
      primary key (repo_id, commit, name)
    )`.execute(db);
  await sql`
    create table repo_pushes (
      repo_id bigint not null references repos (id) on delete cascade,
      ref text not null,
      commit text not null,
      via text not null,
      delivery_id text,
      received_at timestamptz not null default now(),
      primary key (repo_id, ref, commit)
    )`.execute(db);
  await sql`
    create table repo_syncs (
      id bigint generated always as identity primary key,
      repo_id bigint not null references repos (id) on delete cascade,
      started_at timestamptz not null,
      duration_ms integer not null,
      via text not null,
      commit text,
      error text
    )`.execute(db);
  await sql`create index repo_syncs_repo on repo_syncs (repo_id, id desc)`.execute(db);
  // Where a run came from (event, ref, commit, base, actor, delivery, fork) and
  // the repo whose commit it runs at; null for a run submitted from a file.
  await sql`alter table runs add column trigger jsonb`.execute(db);
  await sql`alter table runs add column repo_id bigint references repos (id) on delete set null`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`alter table runs drop column repo_id`.execute(db);
  await sql`alter table runs drop column trigger`.execute(db);
  for (const t of ["repo_syncs", "repo_pushes", "job_definitions", "repo_commits", "repo_refs", "repos"]) {
    await sql`drop table ${sql.table(t)}`.execute(db);
  }
}
