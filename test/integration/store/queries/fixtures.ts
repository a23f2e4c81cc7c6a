/**
 * Small builders shared by the query tests. Each test file owns one database
 * (test/helpers/db.ts); tests that need an empty queue call `reset` first.
 */
import { sql } from "kysely";
import { afterAll, beforeAll, beforeEach } from "vitest";
import { openStore, type Db, type Store } from "../../../../controller/store/db.js";
import { createTestStore, type TestStore } from "../../../helpers/db.js";
import { claimRuns, insertRun, markStarted, type SubmitInput, type Writer } from "../../../../controller/store/runs.js";
import type { RunRow, RunState } from "../../../../controller/store/schema.js";
import { finishAttempt } from "../../../../controller/store/attempts.js";
import type { FinishReason } from "../../../../controller/runs/transitions.js";

/**
 * Empties the tables and restarts run ids at 1, so ids in expectations are
 * exact. CASCADE also empties tables added later that reference runs.
 */
export async function reset(db: Db): Promise<void> {
  await sql`truncate log_chunks, runs, agents restart identity cascade`.execute(db);
}

export async function submit(s: Writer, over: Partial<SubmitInput> = {}): Promise<RunRow> {
  const { run } = await insertRun(s, {
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

/**
 * The store's way to end an attempt is finishAttempt (which also records it and
 * applies the retry policy; these tests' jobs have none). This keeps the tests'
 * shape: the state they name must be the one the outcome leads to.
 */
export interface FinishInput {
  state: RunState;
  reason: FinishReason;
  exitCode: number | null;
  signal: string | null;
  message: string;
  at: Date;
}

export async function markFinished(s: Writer, id: string, attempt: number, f: FinishInput): Promise<RunRow | undefined> {
  const ended = await finishAttempt(s, id, attempt, { reason: f.reason, exitCode: f.exitCode, signal: f.signal, message: f.message, at: f.at });
  if (ended && ended.run.state !== f.state) throw new Error(`test asked for ${f.state}, but ${f.reason} leads to ${ended.run.state}`);
  return ended?.run;
}

let runningMade = 0;
/** A run claimed by `agentId` and started; its own selector keeps other queued runs out of the claim. */
export async function startedRun(s: Writer, agentId = "agent-1"): Promise<RunRow> {
  const labels = { only: `started-${++runningMade}` };
  await submit(s, { selector: labels });
  const [run] = await claimRuns(s, agentId, labels, 1);
  return (await markStarted(s, run!.id, run!.attempt, new Date()))!;
}

/**
 * For races between controllers on one PostgreSQL database (PGlite runs one
 * query at a time, so nothing there can race): a migrated store and `count`
 * more on the same database, one connection each as separate controllers
 * would have, all connected (so they start together) and reset before each test.
 */
export function racingStores(count: number): { readonly store: TestStore; readonly peers: Store[] } {
  let store: TestStore | undefined;
  let peers: Store[] = [];
  beforeAll(async () => {
    store = await createTestStore("postgres");
    peers = await Promise.all(Array.from({ length: count }, () => openStore({ databaseUrl: store!.url!, migrate: false, poolSize: 1 })));
  });
  afterAll(async () => {
    await Promise.all(peers.map((p) => p.close()));
    await store?.dispose();
  });
  beforeEach(async () => {
    await reset(store!.db);
    await Promise.all(peers.map((p) => sql`select 1`.execute(p.db)));
  });
  return {
    get store() {
      return store!;
    },
    get peers() {
      return peers;
    },
  };
}
