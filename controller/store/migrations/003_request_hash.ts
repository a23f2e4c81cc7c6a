import { sql, type Kysely } from "kysely";

// Idempotency keys (issue 6): a key names one request. The run keeps a hash of
// the request that made it, so the same key sent with another job document
// (or for another rerun) is refused instead of silently returning this run.
// Rows from before this migration have none and are taken as matching.
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`alter table runs add column request_hash text`.execute(db);
  // The API refuses longer keys; it used to cut them to 200, so no row is longer.
  await sql`alter table runs add constraint runs_idempotency_key_length check (char_length(idempotency_key) <= 200)`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`alter table runs drop constraint runs_idempotency_key_length`.execute(db);
  await sql`alter table runs drop column request_hash`.execute(db);
}
