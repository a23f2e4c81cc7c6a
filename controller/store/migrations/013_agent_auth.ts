import { sql, type Kysely } from "kysely";

// Agents prove who they are (issue 9 item 2; controller/agents/identity.ts).
//
// - agent_join_tokens: what `hodei agents token create` makes. Only the
//   SHA-256 of a token is stored, with a display prefix. labels: the labels
//   every agent that joins with it gets, which the agent cannot override.
//   max_uses null: unlimited; uses counts successful joins (a join takes a
//   use in one compare-and-set UPDATE, so two agents racing for the last use
//   cannot both win).
// - agents.credential_hash: the SHA-256 of the session credential the agent
//   received when it joined (it keeps the credential in its work dir and
//   presents it on every later dial). A new join under the same name replaces
//   it, so the old one stops working. agents.fixed_labels: the labels its
//   join token fixed. agents.joined_with: the join token that admitted it
//   ('seed' for the controller's HODEI_AGENT_JOIN_TOKEN).
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    create table agent_join_tokens (
      id bigint generated always as identity primary key,
      token_hash text not null unique,
      prefix text not null,
      description text not null default '' constraint agent_join_tokens_description_length check (char_length(description) <= 200),
      labels jsonb not null default '{}'::jsonb,
      max_uses integer constraint agent_join_tokens_max_uses check (max_uses is null or max_uses > 0),
      uses integer not null default 0,
      created_at timestamptz not null default now(),
      created_by text not null,
      expires_at timestamptz,
      revoked_at timestamptz,
      last_used_at timestamptz
    )`.execute(db);
  await sql`alter table agents add column credential_hash text`.execute(db);
  await sql`create unique index agents_credential_hash on agents (credential_hash) where credential_hash is not null`.execute(db);
  await sql`alter table agents add column fixed_labels jsonb not null default '{}'::jsonb`.execute(db);
  await sql`alter table agents add column joined_with text not null default ''`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`alter table agents drop column joined_with`.execute(db);
  await sql`alter table agents drop column fixed_labels`.execute(db);
  await sql`drop index agents_credential_hash`.execute(db);
  await sql`alter table agents drop column credential_hash`.execute(db);
  await sql`drop table agent_join_tokens`.execute(db);
}
