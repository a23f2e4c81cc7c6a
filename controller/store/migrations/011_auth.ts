import { sql, type Kysely } from "kysely";

// Access control and audit (issue 9 items 1 and 7; controller/auth/).
// Numbered 011: 010 is taken by work on another branch.
//
// - api_tokens: who may call the ControlService and GitOpsService. Only the
//   SHA-256 of a token is stored (token_hash), with a short display prefix.
//   A token is 32 random bytes (about 190 bits), so no slow hash is needed:
//   slow hashes protect guessable passwords; nobody can enumerate 2^190
//   candidates, however fast each hash is. projects: the projects the token
//   may see and touch; empty means all.
// - audit_log: append-only. The trigger refuses UPDATE and DELETE for every
//   role, the application's included (the rows are the record of what
//   happened; a compromised controller should not be able to rewrite it).
//   TRUNCATE is not covered: test helpers use it, and a role that may
//   TRUNCATE owns the table anyway (docs/security.md).
// - runs.project: the project a run belongs to (`hodei run --project`, the
//   repo's project); runs.submitted_by: the token name that made the run
//   (a submitter may cancel and rerun its own runs).
// - repos.project: the project of the runs a repo starts.
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    create table api_tokens (
      id bigint generated always as identity primary key,
      name text not null unique constraint api_tokens_name_length check (char_length(name) between 1 and 100),
      role text not null check (role in ('viewer', 'submitter', 'operator', 'admin')),
      projects jsonb not null default '[]'::jsonb,
      token_hash text not null unique,
      prefix text not null,
      created_at timestamptz not null default now(),
      created_by text not null,
      expires_at timestamptz,
      revoked_at timestamptz,
      last_used_at timestamptz
    )`.execute(db);
  await sql`
    create table audit_log (
      id bigserial primary key,
      at timestamptz not null default now(),
      actor text not null,
      action text not null,
      target text not null default '',
      outcome text not null check (outcome in ('allowed', 'denied', 'failed')),
      detail jsonb not null default '{}'::jsonb,
      source text not null default ''
    )`.execute(db);
  await sql`create index audit_log_at on audit_log (at desc)`.execute(db);
  await sql`
    create function audit_log_append_only() returns trigger language plpgsql as $$
    begin
      raise exception 'audit_log is append-only: % is not allowed', tg_op using errcode = 'insufficient_privilege';
    end
    $$`.execute(db);
  await sql`create trigger audit_log_append_only before update or delete on audit_log for each row execute function audit_log_append_only()`.execute(db);
  await sql`alter table runs add column project text not null default 'default'`.execute(db);
  await sql`alter table runs add column submitted_by text`.execute(db);
  await sql`create index runs_project on runs (project, id desc)`.execute(db);
  await sql`alter table repos add column project text not null default 'default'`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`alter table repos drop column project`.execute(db);
  await sql`drop index runs_project`.execute(db);
  await sql`alter table runs drop column submitted_by`.execute(db);
  await sql`alter table runs drop column project`.execute(db);
  await sql`drop table audit_log`.execute(db);
  await sql`drop function audit_log_append_only()`.execute(db);
  await sql`drop table api_tokens`.execute(db);
}
