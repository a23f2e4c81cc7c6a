import { sql, type Kysely } from "kysely";

// The working tree a run starts in (issue 7, item 4): `hodei run` sends a
// gzip'd tar of the submitter's files; the agent fetches it by digest. Bundles
// are keyed by their SHA-256, so resubmitting an unchanged tree stores nothing
// new and a rerun can share its run's bundle. A run names its bundle in
// runs.source_digest (null: an empty workspace).
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    create table source_bundles (
      digest text primary key check (digest ~ '^[0-9a-f]{64}$'),
      data bytea not null,
      created_at timestamptz not null default now()
    )`.execute(db);
  await sql`alter table runs add column source_digest text references source_bundles (digest)`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`alter table runs drop column source_digest`.execute(db);
  await sql`drop table source_bundles`.execute(db);
}
