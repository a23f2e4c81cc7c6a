import { sql, type Kysely } from "kysely";

// A run's stdin (issue 7, item 6: `hodei run -i`). A run submitted with
// stdin = true gets its job's stdin from the chunks the CLI sends, stored here
// as they arrive (keyed by run and sequence, so a chunk resent after a
// reconnect is dropped) and read by the agent of every attempt from the start.
// The run row keeps the next sequence expected, the bytes so far (the per-run
// limit) and whether the chunk with eof has been stored; updating it also
// serialises concurrent writers of one run's stdin.
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`alter table runs add column stdin boolean not null default false`.execute(db);
  await sql`alter table runs add column stdin_next bigint not null default 0 check (stdin_next >= 0)`.execute(db);
  await sql`alter table runs add column stdin_bytes bigint not null default 0 check (stdin_bytes >= 0)`.execute(db);
  await sql`alter table runs add column stdin_eof boolean not null default false`.execute(db);
  await sql`
    create table stdin_chunks (
      run_id bigint not null references runs (id) on delete cascade,
      seq bigint not null check (seq >= 0),
      data bytea not null,
      eof boolean not null default false,
      primary key (run_id, seq)
    )`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`drop table stdin_chunks`.execute(db);
  await sql`alter table runs drop column stdin_eof`.execute(db);
  await sql`alter table runs drop column stdin_bytes`.execute(db);
  await sql`alter table runs drop column stdin_next`.execute(db);
  await sql`alter table runs drop column stdin`.execute(db);
}
