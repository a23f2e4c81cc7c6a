import { sql, type Kysely } from "kysely";

// A run in place (issue 7, item 4: `hodei run --in-place`): the absolute
// directory on the embedded daemon's machine that is the run's workspace
// itself, sent to the agent as ExecSpec.workspace_dir. Null: a fresh
// workspace (empty, a source bundle unpacked, or a checkout). A rerun keeps it.
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`alter table runs add column workspace_dir text constraint runs_workspace_dir_length check (char_length(workspace_dir) between 1 and 4096)`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`alter table runs drop column workspace_dir`.execute(db);
}
