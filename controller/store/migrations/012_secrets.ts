import { sql, type Kysely } from "kysely";

// Secrets (issue 9; controller/secrets/). A value is stored only sealed:
// AES-256-GCM under the controller's master key, which is never in the
// database; `key_id` names the key that sealed it (a rotation re-seals rows
// of older keys). `project` '' is a secret every project may use. Names are
// unique per project. Numbered 012: 010 and 011 are taken by work on other
// branches.
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    create table secrets (
      name text not null constraint secrets_name_length check (char_length(name) between 1 and 128),
      project text not null default '' constraint secrets_project_length check (char_length(project) <= 128),
      key_id text not null,
      nonce bytea not null,
      sealed bytea not null,
      created_by text not null,
      created_at timestamptz not null default now(),
      updated_by text not null,
      updated_at timestamptz not null default now(),
      primary key (project, name)
    )`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`drop table secrets`.execute(db);
}
