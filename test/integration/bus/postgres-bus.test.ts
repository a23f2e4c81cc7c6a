/**
 * PostgresBus on real PostgreSQL: two stores on one database, each with its
 * own bus listening, play two controllers. What one commits the other hears,
 * once, and only after the commit; a rolled-back write is never heard; a lost
 * listening connection comes back with `bus:resync`, after which a follower
 * that re-reads the store sees what it missed; a throwing listener breaks
 * nobody else.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { openStore, type Store } from "../../../controller/store/db.js";
import type { PostgresBus } from "../../../controller/bus/postgres.js";
import type { HodeiEvent } from "../../../controller/bus/events.js";
import { LogHub } from "../../../controller/logs/hub.js";
import { changeRuns, writeRuns } from "../../../controller/store/notify.js";
import { claimRuns, getRun, insertRun, markStarted } from "../../../controller/store/runs.js";
import { finishAttempt } from "../../../controller/store/attempts.js";
import { upsertAgent } from "../../../controller/store/agents.js";
import { appendStdin } from "../../../controller/store/stdin.js";
import { createTestDatabase, withAdminClient, type TestDatabase } from "../../helpers/db.js";
import { eventually } from "../../helpers/procs.js";

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
/** How long "nothing arrived" is given to prove itself (a NOTIFY arrives in milliseconds). */
const QUIET_MS = 500;

let database: TestDatabase;
let a: Store;
let b: Store;
const heardA: HodeiEvent[] = [];
const heardB: HodeiEvent[] = [];
const listenerErrorsB: unknown[] = [];
const connectionChangesB: boolean[] = [];
let agentId: string;

const job = (name: string) => ({ apiVersion: "hodei.dev/v1", kind: "Job", metadata: { name }, spec: { run: "true" } });

function runEventsFor(list: HodeiEvent[], runId: string): HodeiEvent[] {
  return list.filter((e) => "runId" in e && e.runId === runId);
}

beforeAll(async () => {
  database = await createTestDatabase();
  a = await openStore({ databaseUrl: database.url, migrate: false });
  b = await openStore({
    databaseUrl: database.url,
    migrate: false,
    onListenerError: (err) => listenerErrorsB.push(err),
    onBusConnectionChange: (up) => connectionChangesB.push(up),
  });
  await a.bus.start();
  await b.bus.start();
  a.bus.subscribe((ev) => heardA.push(ev));
  b.bus.subscribe((ev) => heardB.push(ev));
  agentId = (await upsertAgent(a.db, { id: "a-bus-test", name: "bus-test-agent", labels: {}, slots: 4, version: "t", killMethod: "group" })).id;
});

afterAll(async () => {
  await a?.close();
  await b?.close();
  await database?.drop();
});

beforeEach(() => {
  heardA.length = 0;
  heardB.length = 0;
});

describe("PostgresBus across two stores on one database", () => {
  it("both buses are PostgreSQL buses with distinct origins, listening", () => {
    expect(a.bus.notifies).toBe(true);
    expect(b.bus.notifies).toBe(true);
    expect(a.bus.origin).not.toBe(b.bus.origin);
    expect((a.bus as PostgresBus).listenerPid).toBeTypeOf("number");
    expect((b.bus as PostgresBus).listenerPid).toBeTypeOf("number");
  });

  it("a write on A is heard on B with the right event, once; A's own listener hears it once", async () => {
    const { run } = await insertRun(a, { jobName: "heard", job: job("heard"), selector: {}, priority: 0, source: "t" });
    const expected = { type: "run:created", runId: String(run.id), attempt: 1, state: "queued", agentId: null };
    // A emits locally at commit.
    expect(runEventsFor(heardA, String(run.id))).toEqual([expected]);
    await eventually(() => (runEventsFor(heardB, String(run.id)).length > 0 ? true : undefined), "B to hear run:created");
    // Give a duplicate (or A's own NOTIFY coming back to A) time to show up.
    await sleep(QUIET_MS);
    expect(runEventsFor(heardB, String(run.id))).toEqual([expected]);
    expect(runEventsFor(heardA, String(run.id))).toEqual([expected]);

    // A whole life: assigned, started, finished, each heard once on B, in order.
    const [claimed] = await claimRuns(a, agentId, {}, 1);
    expect(claimed?.id).toBe(run.id);
    await markStarted(a, run.id, 1, new Date());
    await finishAttempt(a, run.id, 1, { reason: "exited", exitCode: 0, signal: null, message: "", at: new Date() });
    await eventually(() => (runEventsFor(heardB, String(run.id)).some((e) => e.type === "run:finished") ? true : undefined), "B to hear run:finished");
    await sleep(QUIET_MS);
    expect(runEventsFor(heardB, String(run.id)).map((e) => e.type)).toEqual(["run:created", "run:assigned", "run:started", "run:finished"]);
    expect(runEventsFor(heardB, String(run.id)).at(-1)).toMatchObject({ state: "succeeded", agentId });
    expect(runEventsFor(heardA, String(run.id)).map((e) => e.type)).toEqual(["run:created", "run:assigned", "run:started", "run:finished"]);
  });

  it("a stdin chunk stored on A is heard on B once (the NOTIFY rides in its transaction); a resend is heard by nobody", async () => {
    const { run } = await insertRun(a, { jobName: "stdin", job: job("stdin"), selector: {}, priority: 0, source: "t", stdin: true });
    const stdinOf = (heard: HodeiEvent[]) => heard.filter((e) => e.type === "stdin:appended" && e.runId === String(run.id));
    await appendStdin(a, String(run.id), { seq: 0, data: Buffer.from("hi"), eof: false }, 1000);
    await appendStdin(a, String(run.id), { seq: 0, data: Buffer.from("hi"), eof: false }, 1000);
    await eventually(() => (stdinOf(heardB).length > 0 ? true : undefined), "B to hear stdin:appended");
    await sleep(QUIET_MS);
    expect(stdinOf(heardB)).toEqual([{ type: "stdin:appended", runId: String(run.id), nextSeq: 1 }]);
    expect(stdinOf(heardA)).toEqual([{ type: "stdin:appended", runId: String(run.id), nextSeq: 1 }]);
  });

  it("publish (no store write) reaches B once and A once", async () => {
    await a.bus.publish({ type: "agent:drain", agentId: "a-x", reason: "test", deadlineMs: 5 });
    await eventually(() => (heardB.some((e) => e.type === "agent:drain") ? true : undefined), "B to hear agent:drain");
    await sleep(QUIET_MS);
    expect(heardB.filter((e) => e.type === "agent:drain")).toEqual([{ type: "agent:drain", agentId: "a-x", reason: "test", deadlineMs: 5 }]);
    expect(heardA.filter((e) => e.type === "agent:drain")).toHaveLength(1);
  });

  it("a rolled-back transaction announces nothing and leaves no row", async () => {
    let insertedId: string | undefined;
    const rolledBack = await a.db
      .transaction()
      .execute(async (tx) => {
        const rows = await writeRuns(tx, a.bus, "run:created", tx
          .insertInto("runs")
          .values({ job_name: "rolled-back", state: "queued", job: JSON.stringify(job("rolled-back")), selector: "{}", priority: 0, source: "t" })
          .returningAll());
        insertedId = rows[0]?.id;
        throw new Error("roll back");
      })
      .then(
        () => false,
        (err: Error) => err.message === "roll back",
      );
    expect(rolledBack).toBe(true);
    expect(insertedId).toBeDefined();
    await sleep(QUIET_MS);
    expect(heardB).toEqual([]);
    expect(heardA).toEqual([]); // writeRuns alone never emits; the caller emits after commit
    expect(await getRun(a.db, insertedId!)).toBeUndefined();
    expect(await getRun(b.db, insertedId!)).toBeUndefined();
  });

  it("changeRuns inside a transaction that then rolls back: B hears nothing", async () => {
    const { run } = await insertRun(a, { jobName: "tx-cancel", job: job("tx-cancel"), selector: {}, priority: 0, source: "t" });
    await eventually(() => (runEventsFor(heardB, String(run.id)).length ? true : undefined), "B to hear the insert");
    heardB.length = 0;
    await a.db
      .transaction()
      .execute(async (tx) => {
        await changeRuns({ db: tx, bus: a.bus }, "run:finished", tx.updateTable("runs").set({ state: "cancelled", reason: "cancelled" }).where("id", "=", run.id).returningAll());
        throw new Error("roll back");
      })
      .catch(() => {});
    await sleep(QUIET_MS);
    expect(heardB).toEqual([]);
    expect((await getRun(b.db, run.id))?.state).toBe("queued");
  });

  it("a committed transaction is heard only after its commit", async () => {
    let commit!: () => void;
    const released = new Promise<void>((r) => (commit = r));
    let written!: () => void;
    const wrote = new Promise<void>((r) => (written = r));
    let id: string | undefined;
    const tx = a.db.transaction().execute(async (t) => {
      const rows = await writeRuns(t, a.bus, "run:created", t
        .insertInto("runs")
        .values({ job_name: "held-open", state: "queued", job: JSON.stringify(job("held-open")), selector: "{}", priority: 0, source: "t" })
        .returningAll());
      id = rows[0]?.id;
      written();
      await released;
    });
    await wrote;
    await sleep(QUIET_MS);
    expect(heardB).toEqual([]);
    expect(await getRun(b.db, id!)).toBeUndefined(); // not visible to B either
    commit();
    await tx;
    await eventually(() => (runEventsFor(heardB, id!).length ? true : undefined), "B to hear the committed insert");
    expect(runEventsFor(heardB, id!)).toEqual([{ type: "run:created", runId: id, attempt: 1, state: "queued", agentId: null }]);
  });

  it("a lost listening connection: B gets bus:resync, a follower re-reading the store sees the run A finished meanwhile, and B hears again", async () => {
    const busB = b.bus as PostgresBus;
    const { run } = await insertRun(a, { jobName: "while-deaf", job: job("while-deaf"), selector: {}, priority: 0, source: "t" });
    await claimRuns(a, agentId, {}, 10);
    await markStarted(a, run.id, 1, new Date());
    await eventually(() => (runEventsFor(heardB, String(run.id)).some((e) => e.type === "run:started") ? true : undefined), "B to hear run:started");

    // A follower on B built as the controller builds them: a LogHub on B's bus, and any run
    // event or catch-up makes it re-read the run from the store.
    const hub = new LogHub(b.bus);
    const seen: string[] = [];
    const followerEvents: string[] = [];
    const unsubscribe = hub.subscribe(String(run.id), (ev) => {
      followerEvents.push(ev.type);
      void getRun(b.db, run.id).then((r) => r && seen.push(r.state));
    });
    expect((await getRun(b.db, run.id))?.state).toBe("running");

    // Hold B's reconnect until A has finished the run, so what A announces is certainly lost.
    let reopen!: () => void;
    const gate = new Promise<void>((r) => (reopen = r));
    const priv = busB as unknown as { connect: () => Promise<void> };
    const connect = priv.connect.bind(busB);
    priv.connect = async () => {
      await gate;
      return connect();
    };
    try {
      const pid = busB.listenerPid;
      expect(pid).toBeTypeOf("number");
      heardB.length = 0;
      connectionChangesB.length = 0;
      const terminated = await withAdminClient((c) => c.query<{ ok: boolean }>("select pg_terminate_backend($1, 10000) as ok", [pid]));
      expect(terminated.rows[0]?.ok).toBe(true);
      await eventually(() => (busB.listening ? undefined : true), "B to notice its connection is gone");
      expect(connectionChangesB).toEqual([false]);

      await finishAttempt(a, run.id, 1, { reason: "exited", exitCode: 0, signal: null, message: "", at: new Date() });
      await sleep(QUIET_MS);
      expect(heardB).toEqual([]); // deaf: the run:finished is lost
      expect(followerEvents).toEqual([]);

      reopen();
      await eventually(() => (heardB.some((e) => e.type === "bus:resync") ? true : undefined), "B to resync");
      expect(heardB).toEqual([{ type: "bus:resync" }]);
      expect(connectionChangesB).toEqual([false, true]);
      expect(busB.listening).toBe(true);
      expect(busB.listenerPid).not.toBe(pid);
      expect(followerEvents).toEqual(["bus:resync"]);
      await eventually(() => (seen.includes("succeeded") ? true : undefined), "the follower to see the run finished");
      expect((await getRun(b.db, run.id))?.state).toBe("succeeded");
    } finally {
      priv.connect = connect;
      reopen();
      unsubscribe();
      hub.close();
    }

    // Listening again: a later write on A is heard normally, once.
    const { run: later } = await insertRun(a, { jobName: "after-resync", job: job("after-resync"), selector: {}, priority: 0, source: "t" });
    await eventually(() => (runEventsFor(heardB, String(later.id)).length ? true : undefined), "B to hear a write after the resync");
    await sleep(QUIET_MS);
    expect(runEventsFor(heardB, String(later.id))).toEqual([{ type: "run:created", runId: String(later.id), attempt: 1, state: "queued", agentId: null }]);
  });

  it("a throwing listener does not stop the others, locally or across processes", async () => {
    const after: HodeiEvent[] = [];
    const localAfter: HodeiEvent[] = [];
    const offThrowB = b.bus.subscribe(() => {
      throw new Error("listener on B broke");
    });
    const offAfterB = b.bus.subscribe((ev) => after.push(ev));
    const offThrowA = a.bus.subscribe(() => {
      throw new Error("listener on A broke");
    });
    const offAfterA = a.bus.subscribe((ev) => localAfter.push(ev));
    try {
      listenerErrorsB.length = 0;
      const { run } = await insertRun(a, { jobName: "throwing", job: job("throwing"), selector: {}, priority: 0, source: "t" });
      // The write itself succeeded despite A's throwing listener, and A's later listener heard it.
      expect(runEventsFor(localAfter, String(run.id))).toHaveLength(1);
      await eventually(() => (runEventsFor(after, String(run.id)).length ? true : undefined), "B's second listener to hear");
      expect(runEventsFor(heardB, String(run.id))).toHaveLength(1); // the first-registered one too
      expect(listenerErrorsB.some((e) => (e as Error).message === "listener on B broke")).toBe(true);
      // And the bus keeps delivering.
      const { run: next } = await insertRun(a, { jobName: "throwing-2", job: job("throwing-2"), selector: {}, priority: 0, source: "t" });
      await eventually(() => (runEventsFor(after, String(next.id)).length ? true : undefined), "B to keep hearing");
    } finally {
      offThrowB();
      offAfterB();
      offThrowA();
      offAfterA();
    }
  });
});
