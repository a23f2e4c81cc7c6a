/**
 * Several controllers on one PostgreSQL database: claims, cancels and
 * idempotent submits race on separate connections. PostgreSQL only: PGlite
 * runs one query at a time, so nothing there can race.
 */
import { sql } from "kysely";
import { beforeAll, describe, expect, it } from "vitest";
import type { Store } from "../../../../controller/store/db.js";
import { cancelQueued, claimRuns, insertRun } from "../../../../controller/store/runs.js";
import type { TestStore } from "../../../helpers/db.js";
import { racingStores } from "./fixtures.js";

const RUNS = 500;
const CLAIMERS = 8;
const BATCH = 10;

describe("concurrency (postgres)", () => {
  const race = racingStores(CLAIMERS);
  let store: TestStore;
  let peers: Store[] = [];
  beforeAll(() => {
    ({ store, peers } = race);
  });

  /** Queues `n` runs in one statement, with a spread of priorities. */
  async function queue(n: number): Promise<void> {
    await sql`
      insert into runs (job_name, state, job, selector, priority)
      select 'bulk', 'queued', '{}'::jsonb, '{}'::jsonb, i % 7 from generate_series(1, ${n}) as i`.execute(store.db);
  }

  it(`${CLAIMERS} claimers in batches of ${BATCH} take each of ${RUNS} runs exactly once`, async () => {
    await queue(RUNS);
    const claims = await Promise.all(
      peers.map(async (peer, i) => {
        const mine: string[] = [];
        for (;;) {
          const batch = await claimRuns(peer, `agent-${i}`, {}, BATCH);
          expect(batch.length).toBeLessThanOrEqual(BATCH);
          for (const run of batch) expect(run).toMatchObject({ state: "assigned", agent_id: `agent-${i}` });
          if (batch.length === 0) return mine;
          mine.push(...batch.map((r) => r.id));
        }
      }),
    );

    const all = claims.flat();
    const duplicates = all.filter((id, i) => all.indexOf(id) !== i);
    expect(duplicates).toEqual([]);
    expect(all).toHaveLength(RUNS);
    expect(new Set(all)).toEqual(new Set(Array.from({ length: RUNS }, (_, i) => String(i + 1))));
    // The claim really was shared, or this test proved nothing about concurrency.
    expect(claims.filter((c) => c.length > 0).length).toBeGreaterThan(1);

    // The database agrees with what each claimer was told.
    const rows = await store.db.selectFrom("runs").select(["id", "state", "agent_id"]).execute();
    expect(rows.filter((r) => r.state !== "assigned")).toEqual([]);
    const owner = new Map(claims.flatMap((ids, i) => ids.map((id) => [id, `agent-${i}`] as const)));
    expect(rows.filter((r) => owner.get(r.id) !== r.agent_id)).toEqual([]);
  });

  it("a run is either cancelled or claimed, never both, when cancels race claims", async () => {
    await queue(RUNS);
    const claimers = peers.slice(0, CLAIMERS / 2);
    const cancellers = peers.slice(CLAIMERS / 2);
    const claimed: string[] = [];
    const cancelled: string[] = [];
    await Promise.all([
      ...claimers.map(async (peer, i) => {
        for (;;) {
          const batch = await claimRuns(peer, `agent-${i}`, {}, BATCH);
          if (batch.length === 0) return;
          claimed.push(...batch.map((r) => r.id));
        }
      }),
      // Each canceller walks the ids from a different place, so cancels meet claims everywhere.
      ...cancellers.map(async (peer, k) => {
        for (let j = 0; j < RUNS; j++) {
          const id = String(((j + k * 125) % RUNS) + 1);
          const row = await cancelQueued(peer, id, `cancelled by ${k}`);
          if (row) cancelled.push(row.id);
        }
      }),
    ]);
    const both = claimed.filter((id) => cancelled.includes(id));
    expect(both).toEqual([]);
    expect(new Set(cancelled).size).toBe(cancelled.length); // no run cancelled twice
    expect(new Set(claimed).size).toBe(claimed.length);
    expect(claimed.length + cancelled.length).toBe(RUNS);

    const states = await store.db.selectFrom("runs").select(["id", "state"]).execute();
    const byId = new Map(states.map((r) => [r.id, r.state]));
    expect(claimed.filter((id) => byId.get(id) !== "assigned")).toEqual([]);
    expect(cancelled.filter((id) => byId.get(id) !== "cancelled")).toEqual([]);
  });

  it("one idempotency key submitted on every connection at once makes one run", async () => {
    for (let round = 0; round < 20; round++) {
      const key = `race-${round}`;
      const results = await Promise.all(
        peers.map((peer, i) => insertRun(peer, { jobName: "j", job: { from: i }, selector: {}, priority: 0, source: `peer-${i}`, idempotencyKey: key })),
      );
      expect(results.filter((r) => r.created)).toHaveLength(1);
      expect(new Set(results.map((r) => r.run.id)).size).toBe(1);
      // Everyone was handed the run that was stored, not their own version of it.
      const winner = results.find((r) => r.created)!.run;
      for (const r of results) expect(r.run).toEqual(winner);
    }
    const n = await store.db.selectFrom("runs").select((eb) => eb.fn.countAll<string>().as("n")).executeTakeFirstOrThrow();
    expect(Number(n.n)).toBe(20);
  });
});
