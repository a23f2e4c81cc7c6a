/**
 * The compare-and-set writes: each names the state (and attempt) it expects,
 * and a write that matches nothing returns undefined and changes nothing.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import {
  cancelQueued,
  claimRuns,
  markStarted,
  requestCancel,
  requeueAssigned,
} from "../../../../controller/store/runs.js";
import type { RunRow } from "../../../../controller/store/schema.js";
import { DIALECTS, createTestStore, type TestStore } from "../../../helpers/db.js";
import { markFinished, rawRun, reset, submit, type FinishInput } from "./fixtures.js";

const T0 = new Date("2030-01-02T03:04:05.678Z");
/** Every change a watcher shows stamps the run with its transaction (migration 014): not the stamp it had. */
const restamped = (run: object): unknown => expect.not.stringMatching(new RegExp(`^${(run as { change_xid: string }).change_xid}$`));
const T1 = new Date("2030-01-02T03:04:09.123Z");

const exited = (exitCode: number): FinishInput => ({
  state: exitCode === 0 ? "succeeded" : "failed",
  reason: "exited",
  exitCode,
  signal: null,
  message: `exit ${exitCode}`,
  at: T1,
});

describe.each(DIALECTS)("runs: compare-and-set writes (%s)", (dialect) => {
  let store: TestStore;
  beforeAll(async () => {
    store = await createTestStore(dialect);
  });
  afterAll(() => store?.dispose());
  beforeEach(() => reset(store.db));

  /** A queued run no claim in these tests matches. */
  const queued = () => submit(store, { selector: { nobody: "has this" } });
  let made = 0;
  /** A run claimed by agent-1; its own selector keeps other queued runs out of the claim. */
  async function assigned(): Promise<RunRow> {
    const labels = { only: String(++made) };
    const run = await submit(store, { selector: labels });
    const [claimed] = await claimRuns(store, "agent-1", labels, 10);
    expect(claimed?.id).toBe(run.id);
    return claimed!;
  }
  async function running(): Promise<RunRow> {
    const run = await assigned();
    return (await markStarted(store, run.id, 1, T0))!;
  }
  async function finished(): Promise<RunRow> {
    const run = await running();
    return (await markFinished(store, run.id, 1, exited(0)))!;
  }
  async function cancelled(): Promise<RunRow> {
    const run = await queued();
    return (await cancelQueued(store, run.id, "no"))!;
  }
  /** Runs `write` and checks it matched nothing and left the row exactly as it was. */
  async function refused(run: RunRow, write: () => Promise<RunRow | undefined>): Promise<void> {
    const before = await rawRun(store.db, run.id);
    await expect(write()).resolves.toBeUndefined();
    expect(await rawRun(store.db, run.id)).toEqual(before);
  }

  describe("markStarted", () => {
    it("moves an assigned run to running with the given time", async () => {
      const run = await assigned();
      const started = await markStarted(store, run.id, 1, T0);
      expect(started).toEqual({ ...run, state: "running", started_at: T0 , change_xid: restamped(run) });
      expect(await rawRun(store.db, run.id)).toEqual(started);
    });

    it("refuses a wrong attempt", async () => {
      const run = await assigned();
      for (const attempt of [0, 2, -1]) await refused(run, () => markStarted(store, run.id, attempt, T0));
    });

    it("refuses from queued, running and every terminal state", async () => {
      for (const run of [await queued(), await running(), await finished(), await cancelled()]) {
        await refused(run, () => markStarted(store, run.id, 1, T1));
      }
    });

    it("refuses an unknown run", async () => {
      await expect(markStarted(store, "424242", 1, T0)).resolves.toBeUndefined();
    });
  });

  describe("markFinished", () => {
    it("finishes a running run with every field", async () => {
      const run = await running();
      const done = await markFinished(store, run.id, 1, { state: "failed", reason: "signaled", exitCode: null, signal: "SIGKILL", message: "killed", at: T1 });
      expect(done).toEqual({ ...run, state: "failed", reason: "signaled", exit_code: null, signal: "SIGKILL", message: "killed", finished_at: T1 , change_xid: restamped(run) });
      expect(await rawRun(store.db, run.id)).toEqual(done);
    });

    it("finishes an assigned run (it failed to spawn)", async () => {
      const run = await assigned();
      const done = await markFinished(store, run.id, 1, { state: "failed", reason: "spawn_failed", exitCode: null, signal: null, message: "no sh", at: T1 });
      expect(done).toMatchObject({ state: "failed", reason: "spawn_failed", started_at: null, finished_at: T1 });
    });

    it("refuses a wrong attempt, from assigned and from running", async () => {
      for (const run of [await assigned(), await running()]) {
        for (const attempt of [0, 2, 3]) await refused(run, () => markFinished(store, run.id, attempt, exited(1)));
      }
    });

    it("finishes only once: the second report is refused and the first result stays", async () => {
      const run = await running();
      const first = await markFinished(store, run.id, 1, exited(0));
      expect(first).toMatchObject({ state: "succeeded", exit_code: 0, message: "exit 0" });
      await refused(first!, () => markFinished(store, run.id, 1, { ...exited(3), at: new Date() }));
      await refused(first!, () => markFinished(store, run.id, 1, { state: "timed_out", reason: "timeout", exitCode: null, signal: "SIGTERM", message: "late", at: new Date() }));
      expect(await rawRun(store.db, run.id)).toMatchObject({ state: "succeeded", exit_code: 0, message: "exit 0", finished_at: T1 });
    });

    it("refuses a queued or cancelled run", async () => {
      for (const run of [await queued(), await cancelled()]) {
        await refused(run, () => markFinished(store, run.id, 1, exited(0)));
      }
    });
  });

  describe("cancelQueued", () => {
    it("cancels a queued run", async () => {
      const run = await queued();
      const before = Date.now();
      const done = await cancelQueued(store, run.id, "not needed");
      expect(done).toEqual({ ...run, state: "cancelled", reason: "cancelled", message: "not needed", cancel_requested: true, finished_at: expect.any(Date) , change_xid: restamped(run) });
      expect(done!.finished_at!.getTime()).toBeGreaterThanOrEqual(before - 1000);
      expect(await rawRun(store.db, run.id)).toEqual(done);
      // A cancelled run is never claimed.
      expect(await claimRuns(store, "agent-1", run.selector, 10)).toEqual([]);
    });

    it("refuses every other state, and a second cancel", async () => {
      for (const run of [await assigned(), await running(), await finished(), await cancelled()]) {
        await refused(run, () => cancelQueued(store, run.id, "again"));
      }
    });
  });

  describe("requestCancel", () => {
    it("flags an assigned or running run without changing its state", async () => {
      for (const run of [await assigned(), await running()]) {
        const flagged = await requestCancel(store, run.id, "stop please");
        expect(flagged).toEqual({ ...run, cancel_requested: true, message: "stop please" , change_xid: restamped(run) });
        expect(await rawRun(store.db, run.id)).toEqual(flagged);
      }
    });

    it("refuses a queued or finished run", async () => {
      for (const run of [await queued(), await finished(), await cancelled()]) {
        await refused(run, () => requestCancel(store, run.id, "stop"));
      }
    });

    it("a run flagged for cancel finishes cancelled, keeping the message of the request (who asked)", async () => {
      const run = await running();
      await requestCancel(store, run.id, "cancelled by ana with hodei cancel");
      const done = await markFinished(store, run.id, 1, { state: "cancelled", reason: "cancelled", exitCode: null, signal: "SIGTERM", message: "agent: stopped", at: T1 });
      expect(done).toMatchObject({ state: "cancelled", cancel_requested: true, message: "cancelled by ana with hodei cancel" });
    });

    it("a run flagged for cancel that exits on its own first keeps its own outcome", async () => {
      const run = await running();
      await requestCancel(store, run.id, "cancelled by ana with hodei cancel");
      const done = await markFinished(store, run.id, 1, { ...exited(0), at: T1 });
      expect(done).toMatchObject({ state: "succeeded", exit_code: 0, cancel_requested: true });
    });
  });

  describe("requeueAssigned", () => {
    it("puts an assigned run back in the queue, unassigned, for the next claim", async () => {
      const run = await assigned();
      const back = await requeueAssigned(store, run.id, 1);
      expect(back).toEqual({ ...run, state: "queued", agent_id: null, assigned_at: null , change_xid: restamped(run) });
      expect(await rawRun(store.db, run.id)).toEqual(back);
      const [again] = await claimRuns(store, "agent-2", run.selector, 1);
      expect(again).toMatchObject({ id: run.id, state: "assigned", agent_id: "agent-2" });
    });

    it("refuses a wrong attempt", async () => {
      const run = await assigned();
      for (const attempt of [0, 2]) await refused(run, () => requeueAssigned(store, run.id, attempt));
    });

    // cancelRun on an assigned run only flags it (requestCancel). If the agent never got the
    // assignment (send failed, or it reconnected without the run), a plain requeue would leave a
    // queued run with cancel_requested set, which nothing cancels any more: the next claim would
    // start the job the user cancelled.
    it("does not put a run whose cancel was requested back in the queue", async () => {
      const run = await assigned();
      await requestCancel(store, run.id, "cancelled by user");
      await requeueAssigned(store, run.id, 1);
      expect(await claimRuns(store, "agent-2", run.selector, 10)).toEqual([]);
      expect(await rawRun(store.db, run.id)).toMatchObject({ state: "cancelled", agent_id: null, finished_at: expect.any(Date) });
    });

    it("refuses queued, running and finished runs", async () => {
      for (const run of [await queued(), await running(), await finished(), await cancelled()]) {
        await refused(run, () => requeueAssigned(store, run.id, 1));
      }
    });
  });

  it("writes aimed at one run leave the others alone", async () => {
    const a = await running();
    const b = await running();
    const before = await rawRun(store.db, b.id);
    await markFinished(store, a.id, 1, exited(0));
    expect(await rawRun(store.db, b.id)).toEqual(before);
  });
});
