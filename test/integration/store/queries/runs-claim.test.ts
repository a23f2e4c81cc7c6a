/** claimRuns, countClaimable and activeRunsOfAgent on one connection, both dialects. */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { activeRunsOfAgent, claimRuns, countClaimable } from "../../../../controller/store/runs.js";
import { DIALECTS, createTestStore, type TestStore } from "../../../helpers/db.js";
import { rawRun, reset, submit } from "./fixtures.js";

const ids = (rows: { id: string }[]) => rows.map((r) => r.id);

describe.each(DIALECTS)("runs: claim (%s)", (dialect) => {
  let store: TestStore;
  beforeAll(async () => {
    store = await createTestStore(dialect);
  });
  afterAll(() => store?.dispose());
  beforeEach(() => reset(store.db));

  it("claims by priority, highest first, then oldest first", async () => {
    // ids 1..8 with these priorities
    for (const priority of [0, 5, 0, -3, 5, 10, 0, -3]) await submit(store, { priority });
    const claimed = await claimRuns(store, "a1", {}, 100);
    expect(ids(claimed)).toEqual(["6", "2", "5", "1", "3", "7", "4", "8"]);
    expect(claimed.map((r) => r.priority)).toEqual([10, 5, 5, 0, 0, 0, -3, -3]);
  });

  it("respects the limit and takes the best runs first across calls", async () => {
    for (const priority of [0, 1, 2, 3, 4, 5, 6]) await submit(store, { priority });
    expect(ids(await claimRuns(store, "a1", {}, 3))).toEqual(["7", "6", "5"]);
    expect(ids(await claimRuns(store, "a1", {}, 1))).toEqual(["4"]);
    expect(ids(await claimRuns(store, "a1", {}, 0))).toEqual([]);
    expect(ids(await claimRuns(store, "a1", {}, -5))).toEqual([]);
    expect(ids(await claimRuns(store, "a1", {}, 10))).toEqual(["3", "2", "1"]);
    expect(ids(await claimRuns(store, "a1", {}, 10))).toEqual([]);
  });

  it("ranks by id as a number, not as text", async () => {
    // 12 runs of equal priority: "10" < "9" as text, 9 < 10 as numbers.
    for (let i = 0; i < 12; i++) await submit(store);
    expect(ids(await claimRuns(store, "a1", {}, 12))).toEqual(["1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11", "12"]);
  });

  it("marks claimed runs assigned to the agent, with assigned_at, and never returns them again", async () => {
    await submit(store);
    await submit(store);
    const before = Date.now();
    const claimed = await claimRuns(store, "agent-x", { pool: "a" }, 5);
    expect(claimed).toHaveLength(2);
    for (const run of claimed) {
      expect(run).toMatchObject({ state: "assigned", agent_id: "agent-x", attempt: 1, started_at: null, finished_at: null });
      expect(run.assigned_at).toBeInstanceOf(Date);
      expect(run.assigned_at!.getTime()).toBeGreaterThanOrEqual(before - 1000);
      expect(run.assigned_at!.getTime()).toBeLessThanOrEqual(Date.now() + 1000);
      // The returned row is the stored row.
      expect(await rawRun(store.db, run.id)).toEqual(run);
    }
    expect(await claimRuns(store, "agent-x", { pool: "a" }, 5)).toEqual([]);
    expect(await claimRuns(store, "agent-y", {}, 5)).toEqual([]);
    expect(ids(await activeRunsOfAgent(store.db, "agent-x")).sort()).toEqual(["1", "2"]);
    expect(await activeRunsOfAgent(store.db, "agent-y")).toEqual([]);
  });

  it("returns parsed jsonb for job and selector", async () => {
    await submit(store, { job: { name: "j", steps: [{ run: "a" }] }, selector: { pool: "a" } });
    const [run] = await claimRuns(store, "a1", { pool: "a" }, 1);
    expect(run?.job).toEqual({ name: "j", steps: [{ run: "a" }] });
    expect(run?.selector).toEqual({ pool: "a" });
  });

  describe("selectors", () => {
    it("an empty selector matches any agent, with or without labels", async () => {
      await submit(store);
      await submit(store);
      expect(ids(await claimRuns(store, "bare", {}, 1))).toEqual(["1"]);
      expect(ids(await claimRuns(store, "labelled", { pool: "z", os: "linux" }, 1))).toEqual(["2"]);
    });

    it("{pool: a} goes only to agents whose pool is a, whatever other labels they carry", async () => {
      const run = await submit(store, { selector: { pool: "a" } });
      expect(await countClaimable(store.db, {})).toBe(0);
      expect(await claimRuns(store, "none", {}, 10)).toEqual([]);
      expect(await claimRuns(store, "b", { pool: "b" }, 10)).toEqual([]);
      expect(await claimRuns(store, "A", { pool: "A" }, 10)).toEqual([]);
      expect(await claimRuns(store, "a-space", { pool: "a " }, 10)).toEqual([]);
      expect(await claimRuns(store, "other-key", { Pool: "a", region: "a" }, 10)).toEqual([]);
      expect(await countClaimable(store.db, { pool: "a", os: "linux", gpu: "yes" })).toBe(1);
      expect(ids(await claimRuns(store, "a", { os: "linux", pool: "a", gpu: "yes" }, 10))).toEqual([run.id]);
    });

    it("a run needing two labels goes only to an agent carrying both", async () => {
      const run = await submit(store, { selector: { pool: "a", os: "linux" } });
      const misses: Record<string, string>[] = [{}, { pool: "a" }, { os: "linux" }, { pool: "a", os: "mac" }, { pool: "b", os: "linux" }];
      for (const labels of misses) {
        expect(await countClaimable(store.db, labels)).toBe(0);
        expect(await claimRuns(store, `agent ${JSON.stringify(labels)}`, labels, 10)).toEqual([]);
      }
      expect(ids(await claimRuns(store, "both", { pool: "a", os: "linux", arch: "arm64" }, 10))).toEqual([run.id]);
    });

    it("an agent takes only the runs it matches, in priority order, and leaves the rest queued", async () => {
      await submit(store, { selector: { pool: "a" }, priority: 1 }); // 1
      await submit(store, { selector: { pool: "b" }, priority: 9 }); // 2
      await submit(store, { selector: {}, priority: 5 }); // 3
      await submit(store, { selector: { pool: "a", gpu: "yes" }, priority: 9 }); // 4
      await submit(store, { selector: { pool: "a" }, priority: 1 }); // 5
      expect(await countClaimable(store.db, { pool: "a" })).toBe(3);
      expect(await countClaimable(store.db, { pool: "b" })).toBe(2);
      expect(await countClaimable(store.db, { pool: "a", gpu: "yes" })).toBe(4);
      expect(ids(await claimRuns(store, "a", { pool: "a" }, 10))).toEqual(["3", "1", "5"]);
      expect(await countClaimable(store.db, { pool: "a", gpu: "yes" })).toBe(1);
      expect(ids(await claimRuns(store, "b", { pool: "b" }, 10))).toEqual(["2"]);
      expect(ids(await claimRuns(store, "gpu", { pool: "a", gpu: "yes" }, 10))).toEqual(["4"]);
      expect(await countClaimable(store.db, { pool: "a", gpu: "yes" })).toBe(0);
    });

    it("label values with quotes, backslashes and unicode are matched exactly, not interpolated", async () => {
      const selector = { "team's": 'x"y\\z', zone: "東京", "a'); drop table runs; --": "1" };
      const run = await submit(store, { selector });
      expect(await claimRuns(store, "close", { ...selector, zone: "東京 " }, 10)).toEqual([]);
      expect(ids(await claimRuns(store, "exact", { ...selector, extra: "1" }, 10))).toEqual([run.id]);
    });
  });

  it("leaves a retry waiting for its not_before until it is due", async () => {
    const due = await submit(store, { priority: 0 });
    const waiting = await submit(store, { priority: 9 });
    const past = await submit(store, { priority: 5 });
    await store.db.updateTable("runs").set({ not_before: new Date(Date.now() + 3600_000) }).where("id", "=", waiting.id).execute();
    await store.db.updateTable("runs").set({ not_before: new Date(Date.now() - 1000) }).where("id", "=", past.id).execute();
    expect(ids(await claimRuns(store, "a1", {}, 10))).toEqual([past.id, due.id]);
    expect(await claimRuns(store, "a1", {}, 10)).toEqual([]);
    // Still counted: the embedded controller's waitIdle (cli/embedded.ts) must not shut down
    // while a retry is pending, so "claimable" here includes runs that will be due later.
    expect(await countClaimable(store.db, {})).toBe(1);
    await store.db.updateTable("runs").set({ not_before: new Date(Date.now() - 1) }).where("id", "=", waiting.id).execute();
    expect(ids(await claimRuns(store, "a1", {}, 10))).toEqual([waiting.id]);
  });

  it("countClaimable counts only queued runs", async () => {
    for (let i = 0; i < 4; i++) await submit(store);
    expect(await countClaimable(store.db, {})).toBe(4);
    await claimRuns(store, "a1", {}, 3);
    expect(await countClaimable(store.db, {})).toBe(1);
  });
});
