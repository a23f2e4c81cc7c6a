/**
 * Small builders shared by the query tests. Each test file owns one database
 * (test/helpers/db.ts); tests that need an empty queue call `reset` first.
 */
import { sql } from "kysely";
import type { Db } from "../../../../controller/store/db.js";
import { insertRun, type SubmitInput } from "../../../../controller/store/runs.js";
import type { RunRow } from "../../../../controller/store/schema.js";

/**
 * Empties the tables and restarts run ids at 1, so ids in expectations are
 * exact. CASCADE also empties tables added later that reference runs.
 */
export async function reset(db: Db): Promise<void> {
  await sql`truncate log_chunks, runs, agents restart identity cascade`.execute(db);
}

export async function submit(db: Db, over: Partial<SubmitInput> = {}): Promise<RunRow> {
  const { run } = await insertRun(db, {
    jobName: "build",
    job: { name: over.jobName ?? "build", run: "echo hi" },
    selector: {},
    priority: 0,
    source: "test",
    ...over,
  });
  return run;
}

export async function countRows(db: Db, table: "runs" | "log_chunks" | "agents"): Promise<number> {
  const r = await db.selectFrom(table).select((eb) => eb.fn.countAll<string>().as("n")).executeTakeFirstOrThrow();
  return Number(r.n);
}

/** The stored row, read without the code under test. */
export async function rawRun(db: Db, id: string): Promise<RunRow | undefined> {
  return db.selectFrom("runs").selectAll().where("id", "=", id).executeTakeFirst();
}

/** Every byte value once, so encoding bugs (sign, escaping, NUL, UTF-8) show. */
export function allBytes(): Uint8Array {
  return Uint8Array.from({ length: 256 }, (_, i) => i);
}
