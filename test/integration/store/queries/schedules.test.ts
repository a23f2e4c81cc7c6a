/**
 * claimTick and friends (controller/store/schedules.ts): a tick starts exactly
 * one run. Both dialects for the rules; PostgreSQL for the races (PGlite runs
 * one query at a time, so nothing there can race).
 */
import { sql } from "kysely";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import type { HodeiEvent } from "../../../../controller/bus/events.js";
import type { Store } from "../../../../controller/store/db.js";
import { insertRun, type Writer } from "../../../../controller/store/runs.js";
import { claimTick, forgetTicksBefore, lastClaimedTick, lastClaimedTicks } from "../../../../controller/store/schedules.js";
import { DIALECTS, createTestStore, type TestStore } from "../../../helpers/db.js";
import { countRows, racingStores, reset } from "./fixtures.js";

const T1 = new Date("2026-03-29T01:00:00Z");
const T2 = new Date("2026-03-29T01:15:00Z");

/** Creates the tick's run as the scheduler would: a queued run of job `name`. */
const makeRun = (name = "nightly") => async (w: Writer) =>
  (await insertRun(w, { jobName: name, job: { name }, selector: {}, priority: 0, source: "schedule" })).run.id;

async function ticks(db: Store["db"]) {
  return db.selectFrom("schedule_ticks").select(["job_key", "tick_at", "run_id"]).orderBy("job_key").orderBy("tick_at").execute();
}

describe.each(DIALECTS)("schedule ticks (%s)", (dialect) => {
  let store: TestStore;
  beforeAll(async () => {
    store = await createTestStore(dialect);
  });
  afterAll(() => store?.dispose());
  beforeEach(() => reset(store.db));

  it("claims a tick once: the first claim creates the run, a second claim creates nothing", async () => {
    const first = await claimTick(store, "repo/.hodei/a.yaml#nightly", T1, makeRun());
    expect(first).toEqual({ claimed: true, runId: "1" });
    let called = false;
    const again = await claimTick(store, "repo/.hodei/a.yaml#nightly", T1, async (w) => {
      called = true;
      return makeRun()(w);
    });
    expect(again).toEqual({ claimed: false });
    expect(called).toBe(false);
    expect(await countRows(store.db, "runs")).toBe(1);
    expect(await ticks(store.db)).toEqual([{ job_key: "repo/.hodei/a.yaml#nightly", tick_at: T1, run_id: "1" }]);
    expect(await lastClaimedTick(store.db, "repo/.hodei/a.yaml#nightly")).toEqual(T1);
  });

  it("keeps jobs apart: the same instant is a tick of each job", async () => {
    expect(await claimTick(store, "a", T1, makeRun("a"))).toMatchObject({ claimed: true });
    expect(await claimTick(store, "b", T1, makeRun("b"))).toMatchObject({ claimed: true });
    expect(await countRows(store.db, "runs")).toBe(2);
  });

  it("refuses a tick older than one already claimed for the job (no late catch-up behind a peer)", async () => {
    expect(await claimTick(store, "a", T2, makeRun())).toMatchObject({ claimed: true });
    expect(await claimTick(store, "a", T1, makeRun())).toEqual({ claimed: false });
    expect(await lastClaimedTick(store.db, "a")).toEqual(T2);
    expect(await countRows(store.db, "runs")).toBe(1);
  });

  it("a claim whose run creation fails rolls back whole: no tick, no run, nothing announced; the tick stays claimable", async () => {
    const heard: HodeiEvent[] = [];
    const off = store.bus.subscribe((ev) => void heard.push(ev));
    try {
      await expect(
        claimTick(store, "a", T1, async (w) => {
          await makeRun()(w); // the run is written...
          throw new Error("submit failed"); // ...then the claimer fails before committing
        }),
      ).rejects.toThrow("submit failed");
      expect(await countRows(store.db, "runs")).toBe(0);
      expect(await ticks(store.db)).toEqual([]);
      expect(await lastClaimedTick(store.db, "a")).toBeNull();
      expect(heard).toEqual([]);

      const retry = await claimTick(store, "a", T1, makeRun());
      expect(retry).toMatchObject({ claimed: true });
      expect(await countRows(store.db, "runs")).toBe(1);
      // Announced once, after the commit.
      expect(heard.filter((e) => e.type === "run:created")).toHaveLength(1);
    } finally {
      off();
    }
  });

  it("announces run:created only after the commit", async () => {
    const seenDuring: number[] = [];
    let inside = false;
    const off = store.bus.subscribe((ev) => {
      if (ev.type === "run:created") seenDuring.push(inside ? 1 : 0);
    });
    try {
      await claimTick(store, "a", T1, async (w) => {
        inside = true;
        const id = await makeRun()(w);
        await new Promise((r) => setTimeout(r, 10));
        inside = false;
        return id;
      });
      expect(seenDuring).toEqual([0]);
    } finally {
      off();
    }
  });

  it("lastClaimedTick(s): the newest tick per job, null or absent when none", async () => {
    expect(await lastClaimedTick(store.db, "a")).toBeNull();
    await claimTick(store, "a", T1, makeRun());
    await claimTick(store, "a", T2, makeRun());
    await claimTick(store, "b", T1, makeRun());
    expect(await lastClaimedTick(store.db, "a")).toEqual(T2);
    const all = await lastClaimedTicks(store.db, ["a", "b", "c"]);
    expect([...all.entries()].sort()).toEqual([
      ["a", T2],
      ["b", T1],
    ]);
    expect(await lastClaimedTicks(store.db, [])).toEqual(new Map());
  });

  it("forgetTicksBefore keeps each job's newest tick", async () => {
    await claimTick(store, "a", T1, makeRun());
    await claimTick(store, "a", T2, makeRun());
    await claimTick(store, "b", T1, makeRun());
    expect(await forgetTicksBefore(store.db, new Date("2030-01-01T00:00:00Z"))).toBe(1);
    expect((await ticks(store.db)).map((t) => [t.job_key, t.tick_at])).toEqual([
      ["a", T2],
      ["b", T1],
    ]);
  });

  it("a deleted run leaves its tick claimed (run_id null), so the tick never fires again", async () => {
    await claimTick(store, "a", T1, makeRun());
    await sql`delete from runs`.execute(store.db);
    expect(await ticks(store.db)).toEqual([{ job_key: "a", tick_at: T1, run_id: null }]);
    expect(await claimTick(store, "a", T1, makeRun())).toEqual({ claimed: false });
  });
});

describe("schedule ticks: claimers racing on one PostgreSQL database", () => {
  const CLAIMERS = 6;
  const race = racingStores(CLAIMERS);
  let store: TestStore;
  let peers: Store[] = [];
  beforeAll(() => {
    ({ store, peers } = race);
  });

  it("two concurrent claimers of one tick: exactly one run; the second waits for the first's commit", async () => {
    const [a, b] = peers as [Store, Store];
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    let entered!: () => void;
    const aInside = new Promise<void>((r) => (entered = r));
    const claimA = claimTick(a, "job", T1, async (w) => {
      const id = await makeRun()(w);
      entered();
      await held; // A holds its claim, uncommitted, while B tries
      return id;
    });
    await aInside;
    let bCalled = false;
    const claimB = claimTick(b, "job", T1, async (w) => {
      bCalled = true;
      return makeRun()(w);
    });
    // B cannot finish while A's transaction is open.
    const early = await Promise.race([claimB.then(() => "finished"), new Promise((r) => setTimeout(() => r("waiting"), 300))]);
    expect(early).toBe("waiting");
    release();
    expect(await claimA).toMatchObject({ claimed: true });
    expect(await claimB).toEqual({ claimed: false });
    expect(bCalled).toBe(false);
    expect(await countRows(store.db, "runs")).toBe(1);
  });

  it("when the first claimer rolls back, the waiting one claims the tick", async () => {
    const [a, b] = peers as [Store, Store];
    let fail!: () => void;
    const failing = new Promise<void>((r) => (fail = r));
    let entered!: () => void;
    const aInside = new Promise<void>((r) => (entered = r));
    const claimA = claimTick(a, "job", T1, async (w) => {
      await makeRun()(w);
      entered();
      await failing;
      throw new Error("controller A failed before its commit");
    });
    await aInside;
    const claimB = claimTick(b, "job", T1, makeRun());
    fail();
    await expect(claimA).rejects.toThrow("before its commit");
    expect(await claimB).toMatchObject({ claimed: true });
    expect(await countRows(store.db, "runs")).toBe(1);
    expect(await lastClaimedTick(store.db, "job")).toEqual(T1);
  });

  it(`${CLAIMERS} claimers racing over 40 ticks of 5 jobs: one run per tick`, async () => {
    const jobs = ["j1", "j2", "j3", "j4", "j5"];
    const instants = Array.from({ length: 8 }, (_, i) => new Date(T1.getTime() + i * 60_000));
    const wins = await Promise.all(
      peers.map(async (peer) => {
        let won = 0;
        for (const tick of instants) {
          for (const job of jobs) {
            if ((await claimTick(peer, job, tick, makeRun(job))).claimed) won++;
          }
        }
        return won;
      }),
    );
    expect(wins.reduce((x, y) => x + y, 0)).toBe(jobs.length * instants.length);
    expect(await countRows(store.db, "runs")).toBe(jobs.length * instants.length);
    const rows = await ticks(store.db);
    expect(rows).toHaveLength(jobs.length * instants.length);
    expect(new Set(rows.map((r) => r.run_id)).size).toBe(rows.length);
  });
});
