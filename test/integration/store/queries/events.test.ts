/**
 * Every store write that changes a run announces exactly what it did on the
 * store's bus (controller/store/notify.ts), and a write that matches nothing
 * announces nothing. Any write that leaves a run in a final state announces
 * run:finished, whatever else it did.
 *
 * On PostgreSQL the same events also travel as NOTIFY inside the committing
 * statement: a second store on the same database (a "peer" controller,
 * listening) must hear exactly what this process heard, minus the log bytes.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { openStore, type Store } from "../../../../controller/store/db.js";
import {
  cancelQueued,
  claimRuns,
  failUnschedulable,
  insertRun,
  markStarted,
  requestCancel,
  requeueAssigned,
  type SubmitInput,
} from "../../../../controller/store/runs.js";
import { finishAttempt, requeueLost, type AttemptOutcome, type RetryPolicy } from "../../../../controller/store/attempts.js";
import { appendChunks, readChunks, type ChunkInput } from "../../../../controller/store/logs.js";
import type { RunRow } from "../../../../controller/store/schema.js";
import { isRunEvent, type HodeiEvent, type RunEvent } from "../../../../controller/bus/events.js";
import { isTerminal } from "../../../../controller/runs/transitions.js";
import { DIALECTS, createTestStore, type TestStore } from "../../../helpers/db.js";
import { rawRun, reset, submit } from "./fixtures.js";

const T0 = new Date("2030-01-02T03:04:05.678Z");
const T1 = new Date("2030-01-02T03:04:09.123Z");
const AGENT = "agent-1";

const outcome = (over: Partial<AttemptOutcome> = {}): AttemptOutcome => ({ reason: "exited", exitCode: 0, signal: null, message: "done", at: T1, ...over });
const RETRY: RetryPolicy = { mayRetry: true, decide: () => ({ retry: true, delayMs: 0 }) };
const DECLINE: RetryPolicy = { mayRetry: true, decide: () => ({ retry: false, delayMs: 0 }) };
/** A job document that has a retry policy (the store's one-statement end skips the policy for a job without one). */
const RETRYING_JOB = { name: "build", run: "false", spec: { retries: { limit: 3 } } };

const chunk = (seq: number, text: string): ChunkInput => ({ seq, stream: 1, data: new TextEncoder().encode(text), tsMs: 1_893_456_000_000 + seq });

/** What a peer hears: the same event without the log bytes, which never cross processes. */
function overTheWire(ev: HodeiEvent): HodeiEvent {
  if (ev.type !== "log:appended") return ev;
  const { chunks: _chunks, ...rest } = ev;
  return rest;
}

describe.each(DIALECTS)("store events (%s)", (dialect) => {
  let store: TestStore;
  /** PostgreSQL only: another store on the same database, listening. */
  let peer: Store | undefined;
  const peerHeard: HodeiEvent[] = [];
  let marks = 0;

  beforeAll(async () => {
    store = await createTestStore(dialect);
    if (dialect === "postgres") {
      peer = await openStore({ databaseUrl: store.url!, migrate: false });
      peer.bus.subscribe((ev) => peerHeard.push(ev));
      await peer.bus.start();
    }
  });
  afterAll(async () => {
    await peer?.close();
    await store?.dispose();
  });
  beforeEach(() => reset(store.db));

  /** A marker no store write sends, to delimit what the peer heard (NOTIFYs arrive in commit order). */
  async function mark(): Promise<string> {
    const agentId = `mark-${++marks}`;
    await store.bus.publish({ type: "agent:drain", agentId, reason: "", deadlineMs: 0 });
    return agentId;
  }
  async function peerHeardUpTo(agentId: string): Promise<number> {
    const deadline = Date.now() + 10_000;
    for (;;) {
      const i = peerHeard.findIndex((e) => e.type === "agent:drain" && e.agentId === agentId);
      if (i >= 0) return i;
      if (Date.now() > deadline) throw new Error(`the peer never heard ${agentId}`);
      await new Promise((r) => setTimeout(r, 5));
    }
  }

  /**
   * Runs `write` with a listener on the store's bus: what it returned and the
   * events it announced. Checks the finished rule on every run event, and on
   * PostgreSQL that the peer heard the same events, in the same order.
   */
  async function heard<T>(write: () => Promise<T>): Promise<{ result: T; events: HodeiEvent[] }> {
    const before = peer ? await mark() : undefined;
    const events: HodeiEvent[] = [];
    const off = store.bus.subscribe((ev) => events.push(ev));
    let result: T;
    try {
      result = await write();
    } finally {
      off();
    }
    for (const ev of events.filter(isRunEvent)) {
      expect(ev.type === "run:finished", `${ev.type} with state ${ev.state}`).toBe(isTerminal(ev.state));
    }
    if (before) {
      const after = await mark();
      const from = await peerHeardUpTo(before);
      const to = await peerHeardUpTo(after);
      // Run events cross in the committing statement, exactly and in order; log appends are
      // forwarded after the commit, coalesced per run, so they are checked on their own (below).
      const runOnly = (evs: HodeiEvent[]): HodeiEvent[] => evs.filter((e) => e.type !== "log:appended");
      expect(runOnly(peerHeard.slice(from + 1, to))).toEqual(runOnly(events.map(overTheWire)));
    }
    return { result, events };
  }

  const runEvent = (type: RunEvent["type"], run: RunRow, over: Partial<RunEvent> = {}): RunEvent => ({
    type,
    runId: run.id,
    attempt: run.attempt,
    state: run.state,
    agentId: run.agent_id,
    ...over,
  });

  let made = 0;
  /** A queued run only `labels` claims. */
  async function queued(over: Partial<SubmitInput> = {}): Promise<{ run: RunRow; labels: Record<string, string> }> {
    const labels = { only: String(++made) };
    return { run: await submit(store, { selector: labels, ...over }), labels };
  }
  async function assigned(over: Partial<SubmitInput> = {}): Promise<RunRow> {
    const { labels } = await queued(over);
    const [run] = await claimRuns(store, AGENT, labels, 1);
    return run!;
  }
  async function running(over: Partial<SubmitInput> = {}): Promise<RunRow> {
    const run = await assigned(over);
    return (await markStarted(store, run.id, 1, T0))!;
  }
  async function succeeded(): Promise<RunRow> {
    const run = await running();
    return (await finishAttempt(store, run.id, 1, outcome()))!.run;
  }

  describe("insertRun", () => {
    it("announces run:created, queued, attempt 1, no agent", async () => {
      const { result, events } = await heard(() => insertRun(store, { jobName: "build", job: { name: "build", run: "x" }, selector: {}, priority: 0, source: "test" }));
      expect(result.created).toBe(true);
      expect(events).toEqual([{ type: "run:created", runId: result.run.id, attempt: 1, state: "queued", agentId: null }]);
    });

    it("a replay of an idempotency key creates nothing and announces nothing", async () => {
      const input = { jobName: "build", job: { name: "build", run: "x" }, selector: {}, priority: 0, source: "test", idempotencyKey: "k1" };
      const first = await heard(() => insertRun(store, input));
      expect(first.events).toHaveLength(1);
      const again = await heard(() => insertRun(store, input));
      expect(again.result).toEqual({ run: first.result.run, created: false });
      expect(again.events).toEqual([]);
    });
  });

  describe("claimRuns", () => {
    it("announces run:assigned for each claimed run, with the agent", async () => {
      const a = await submit(store, { selector: { pool: "x" } });
      const b = await submit(store, { selector: { pool: "x" } });
      const { result, events } = await heard(() => claimRuns(store, AGENT, { pool: "x" }, 10));
      expect(result.map((r) => r.id).sort()).toEqual([a.id, b.id].sort());
      expect([...events].sort((x, y) => ((x as RunEvent).runId < (y as RunEvent).runId ? -1 : 1))).toEqual(
        [a, b].sort((x, y) => (x.id < y.id ? -1 : 1)).map((r) => ({ type: "run:assigned", runId: r.id, attempt: 1, state: "assigned", agentId: AGENT })),
      );
    });

    it("announces nothing when nothing is claimable", async () => {
      await submit(store, { selector: { pool: "other" } });
      const { result, events } = await heard(() => claimRuns(store, AGENT, { pool: "x" }, 10));
      expect(result).toEqual([]);
      expect(events).toEqual([]);
      expect((await heard(() => claimRuns(store, AGENT, {}, 0))).events).toEqual([]);
    });
  });

  describe("markStarted", () => {
    it("announces run:started, running, on its agent", async () => {
      const run = await assigned();
      const { result, events } = await heard(() => markStarted(store, run.id, 1, T0));
      expect(result?.state).toBe("running");
      expect(events).toEqual([{ type: "run:started", runId: run.id, attempt: 1, state: "running", agentId: AGENT }]);
    });

    it("a wrong attempt or a wrong state announces nothing", async () => {
      const run = await assigned();
      for (const attempt of [0, 2]) expect((await heard(() => markStarted(store, run.id, attempt, T0))).events).toEqual([]);
      const q = await queued();
      expect((await heard(() => markStarted(store, q.run.id, 1, T0))).events).toEqual([]);
      const r = await running();
      expect((await heard(() => markStarted(store, r.id, 1, T0))).events).toEqual([]);
      const done = await succeeded();
      expect((await heard(() => markStarted(store, done.id, 1, T0))).events).toEqual([]);
    });
  });

  describe("cancelQueued", () => {
    it("announces run:finished, cancelled", async () => {
      const { run } = await queued();
      const { result, events } = await heard(() => cancelQueued(store, run.id, "no"));
      expect(result?.state).toBe("cancelled");
      expect(events).toEqual([{ type: "run:finished", runId: run.id, attempt: 1, state: "cancelled", agentId: null }]);
    });

    it("announces nothing for a run that is not queued", async () => {
      for (const run of [await assigned(), await running(), await succeeded()]) {
        expect((await heard(() => cancelQueued(store, run.id, "no"))).events).toEqual([]);
      }
      const { run } = await queued();
      await cancelQueued(store, run.id, "no");
      expect((await heard(() => cancelQueued(store, run.id, "again"))).events).toEqual([]);
    });
  });

  describe("requestCancel", () => {
    it("announces run:cancelled with the state unchanged, for an assigned and a running run", async () => {
      for (const run of [await assigned(), await running()]) {
        const { result, events } = await heard(() => requestCancel(store, run.id, "stop"));
        expect(result?.cancel_requested).toBe(true);
        expect(events).toEqual([{ type: "run:cancelled", runId: run.id, attempt: 1, state: run.state, agentId: AGENT }]);
      }
    });

    it("announces nothing for a queued or finished run", async () => {
      const { run } = await queued();
      expect((await heard(() => requestCancel(store, run.id, "stop"))).events).toEqual([]);
      const done = await succeeded();
      expect((await heard(() => requestCancel(store, done.id, "stop"))).events).toEqual([]);
    });
  });

  describe("requeueAssigned", () => {
    it("announces run:requeued, queued, without an agent, same attempt", async () => {
      const run = await assigned();
      const { result, events } = await heard(() => requeueAssigned(store, run.id, 1));
      expect(result?.state).toBe("queued");
      expect(events).toEqual([{ type: "run:requeued", runId: run.id, attempt: 1, state: "queued", agentId: null }]);
    });

    it("announces run:finished when a cancel was requested (it ends cancelled)", async () => {
      const run = await assigned();
      await requestCancel(store, run.id, "stop");
      const { result, events } = await heard(() => requeueAssigned(store, run.id, 1));
      expect(result?.state).toBe("cancelled");
      expect(events).toEqual([{ type: "run:finished", runId: run.id, attempt: 1, state: "cancelled", agentId: null }]);
    });

    it("a wrong attempt or a wrong state announces nothing", async () => {
      const run = await assigned();
      for (const attempt of [0, 2]) expect((await heard(() => requeueAssigned(store, run.id, attempt))).events).toEqual([]);
      for (const other of [(await queued()).run, await running(), await succeeded()]) {
        expect((await heard(() => requeueAssigned(store, other.id, 1))).events).toEqual([]);
      }
    });
  });

  describe("failUnschedulable", () => {
    it("announces run:finished, failed", async () => {
      const { run } = await queued();
      const { result, events } = await heard(() => failUnschedulable(store, run.id, "no agent has gpu=a100"));
      expect(result?.state).toBe("failed");
      expect(events).toEqual([{ type: "run:finished", runId: run.id, attempt: 1, state: "failed", agentId: null }]);
    });

    it("announces nothing for a run that is not queued", async () => {
      for (const run of [await assigned(), await running(), await succeeded()]) {
        expect((await heard(() => failUnschedulable(store, run.id, "x"))).events).toEqual([]);
      }
    });
  });

  describe("finishAttempt", () => {
    it("announces run:finished with the outcome's state, for each outcome, from assigned or running", async () => {
      const cases: [AttemptOutcome, RunRow["state"]][] = [
        [outcome(), "succeeded"],
        [outcome({ exitCode: 3 }), "failed"],
        [outcome({ reason: "timeout", exitCode: null }), "timed_out"],
        [outcome({ reason: "cancelled", exitCode: null }), "cancelled"],
        [outcome({ reason: "signaled", exitCode: null, signal: "SIGKILL" }), "failed"],
        [outcome({ reason: "spawn_failed", exitCode: null }), "failed"],
      ];
      for (const [o, state] of cases) {
        for (const run of [await assigned(), await running()]) {
          const { result, events } = await heard(() => finishAttempt(store, run.id, 1, o));
          expect(result?.run.state).toBe(state);
          expect(events).toEqual([{ type: "run:finished", runId: run.id, attempt: 1, state, agentId: AGENT }]);
        }
      }
    });

    it("with a retry policy that retries: run:retried, queued as attempt + 1, without an agent", async () => {
      const run = await running({ job: RETRYING_JOB });
      const { result, events } = await heard(() => finishAttempt(store, run.id, 1, outcome({ exitCode: 1 }), RETRY));
      expect(result?.retried).toBe(true);
      expect(result?.run).toMatchObject({ state: "queued", attempt: 2, agent_id: null });
      expect(events).toEqual([{ type: "run:retried", runId: run.id, attempt: 2, state: "queued", agentId: null }]);
      // The retried run goes round again: the next attempt's end is announced as attempt 2.
      const [again] = await claimRuns(store, AGENT, run.selector, 1);
      expect(again?.attempt).toBe(2);
      const second = await heard(() => finishAttempt(store, run.id, 2, outcome()));
      expect(second.events).toEqual([{ type: "run:finished", runId: run.id, attempt: 2, state: "succeeded", agentId: AGENT }]);
    });

    it("with a retry policy that declines: run:finished", async () => {
      const run = await running({ job: RETRYING_JOB });
      const { result, events } = await heard(() => finishAttempt(store, run.id, 1, outcome({ exitCode: 1 }), DECLINE));
      expect(result?.retried).toBe(false);
      expect(events).toEqual([{ type: "run:finished", runId: run.id, attempt: 1, state: "failed", agentId: AGENT }]);
    });

    it("with a retry policy, after a cancel was requested: run:finished (never retried)", async () => {
      const run = await running({ job: RETRYING_JOB });
      await requestCancel(store, run.id, "stop");
      const { result, events } = await heard(() => finishAttempt(store, run.id, 1, outcome({ exitCode: 1 }), RETRY));
      expect(result?.retried).toBe(false);
      expect(events).toEqual([{ type: "run:finished", runId: run.id, attempt: 1, state: "failed", agentId: AGENT }]);
    });

    it("a wrong attempt, a duplicate report or a wrong state announces nothing, with or without a policy", async () => {
      for (const policy of [undefined, RETRY, DECLINE]) {
        const run = await running({ job: RETRYING_JOB });
        for (const attempt of [0, 2]) expect((await heard(() => finishAttempt(store, run.id, attempt, outcome(), policy))).events).toEqual([]);
        const { run: q } = await queued({ job: RETRYING_JOB });
        expect((await heard(() => finishAttempt(store, q.id, 1, outcome(), policy))).events).toEqual([]);
        expect((await heard(() => finishAttempt(store, run.id, 1, outcome({ exitCode: 1 }), DECLINE))).events).toHaveLength(1);
        // The same report again (a resend after a reconnect).
        expect((await heard(() => finishAttempt(store, run.id, 1, outcome({ exitCode: 1 }), policy))).events).toEqual([]);
        expect((await rawRun(store.db, run.id))?.state).toBe("failed");
      }
    });
  });

  describe("requeueLost", () => {
    it("announces run:requeued as attempt + 1, without an agent", async () => {
      const run = await assigned();
      const { result, events } = await heard(() => requeueLost(store, run.id, 1, "agent lost"));
      expect(result).toMatchObject({ state: "queued", attempt: 2 });
      expect(events).toEqual([{ type: "run:requeued", runId: run.id, attempt: 2, state: "queued", agentId: null }]);
    });

    it("announces run:finished when a cancel was requested (it ends cancelled)", async () => {
      const run = await assigned();
      await requestCancel(store, run.id, "stop");
      const { result, events } = await heard(() => requeueLost(store, run.id, 1, "agent lost"));
      expect(result?.state).toBe("cancelled");
      expect(events).toEqual([{ type: "run:finished", runId: run.id, attempt: 1, state: "cancelled", agentId: null }]);
    });

    it("a wrong attempt or a wrong state announces nothing", async () => {
      const run = await assigned();
      for (const attempt of [0, 2]) expect((await heard(() => requeueLost(store, run.id, attempt, "lost"))).events).toEqual([]);
      for (const other of [(await queued()).run, await running(), await succeeded()]) {
        expect((await heard(() => requeueLost(store, other.id, 1, "lost"))).events).toEqual([]);
      }
      // Requeued once: the old attempt is fenced off.
      await requeueLost(store, run.id, 1, "lost");
      expect((await heard(() => requeueLost(store, run.id, 1, "lost"))).events).toEqual([]);
    });
  });

  describe("appendChunks", () => {
    it("announces log:appended with the next sequence and the chunks", async () => {
      const run = await running();
      const batch = [chunk(0, "a"), chunk(1, "b")];
      const { result, events } = await heard(() => appendChunks(store, run.id, 1, batch));
      expect(result).toBe(2);
      expect(events).toEqual([{ type: "log:appended", runId: run.id, attempt: 1, nextSeq: 2, chunks: batch }]);
      if (peer) {
        // Another process hears it too, without the bytes (after the commit, coalesced per run).
        await expect.poll(() => peerHeard.filter((e) => e.type === "log:appended" && e.runId === run.id).at(-1)).toEqual({ type: "log:appended", runId: run.id, attempt: 1, nextSeq: 2 });
      }
      // A resend still announces (idempotent store), with the run's next sequence unchanged.
      const again = await heard(() => appendChunks(store, run.id, 1, [chunk(0, "a")]));
      expect(again.events).toEqual([{ type: "log:appended", runId: run.id, attempt: 1, nextSeq: 2, chunks: [chunk(0, "a")] }]);
    });

    it("announces for an assigned run too", async () => {
      const run = await assigned();
      const { events } = await heard(() => appendChunks(store, run.id, 1, [chunk(0, "early")]));
      expect(events).toEqual([{ type: "log:appended", runId: run.id, attempt: 1, nextSeq: 1, chunks: [chunk(0, "early")] }]);
    });

    it("a wrong attempt, a wrong state or an empty batch announces nothing", async () => {
      const run = await running();
      for (const attempt of [0, 2]) expect((await heard(() => appendChunks(store, run.id, attempt, [chunk(0, "x")]))).events).toEqual([]);
      expect((await heard(() => appendChunks(store, run.id, 1, []))).events).toEqual([]);
      for (const other of [(await queued()).run, await succeeded()]) {
        expect((await heard(() => appendChunks(store, other.id, 1, [chunk(0, "x")]))).events).toEqual([]);
      }
    });
  });

  describe("a listener throwing does not break the write", () => {
    /** Each write, with what it must return and store. */
    const writes: { name: string; run: () => Promise<{ id: string; write: () => Promise<unknown> }>; stored: (run: RunRow) => void }[] = [
      {
        name: "insertRun",
        run: async () => ({ id: "1", write: () => submit(store) }),
        stored: (r) => expect(r.state).toBe("queued"),
      },
      {
        name: "claimRuns",
        run: async () => {
          const { run, labels } = await queued();
          return { id: run.id, write: () => claimRuns(store, AGENT, labels, 1) };
        },
        stored: (r) => expect(r).toMatchObject({ state: "assigned", agent_id: AGENT }),
      },
      {
        name: "markStarted",
        run: async () => {
          const run = await assigned();
          return { id: run.id, write: () => markStarted(store, run.id, 1, T0) };
        },
        stored: (r) => expect(r).toMatchObject({ state: "running", started_at: T0 }),
      },
      {
        name: "cancelQueued",
        run: async () => {
          const { run } = await queued();
          return { id: run.id, write: () => cancelQueued(store, run.id, "no") };
        },
        stored: (r) => expect(r.state).toBe("cancelled"),
      },
      {
        name: "requestCancel",
        run: async () => {
          const run = await running();
          return { id: run.id, write: () => requestCancel(store, run.id, "stop") };
        },
        stored: (r) => expect(r).toMatchObject({ state: "running", cancel_requested: true }),
      },
      {
        name: "requeueAssigned",
        run: async () => {
          const run = await assigned();
          return { id: run.id, write: () => requeueAssigned(store, run.id, 1) };
        },
        stored: (r) => expect(r).toMatchObject({ state: "queued", agent_id: null }),
      },
      {
        name: "failUnschedulable",
        run: async () => {
          const { run } = await queued();
          return { id: run.id, write: () => failUnschedulable(store, run.id, "none") };
        },
        stored: (r) => expect(r).toMatchObject({ state: "failed", reason: "unschedulable" }),
      },
      {
        name: "finishAttempt",
        run: async () => {
          const run = await running();
          return { id: run.id, write: () => finishAttempt(store, run.id, 1, outcome()) };
        },
        stored: (r) => expect(r.state).toBe("succeeded"),
      },
      {
        name: "finishAttempt (retried, in a transaction)",
        run: async () => {
          const run = await running({ job: RETRYING_JOB });
          return { id: run.id, write: () => finishAttempt(store, run.id, 1, outcome({ exitCode: 1 }), RETRY) };
        },
        stored: (r) => expect(r).toMatchObject({ state: "queued", attempt: 2 }),
      },
      {
        name: "requeueLost",
        run: async () => {
          const run = await assigned();
          return { id: run.id, write: () => requeueLost(store, run.id, 1, "lost") };
        },
        stored: (r) => expect(r).toMatchObject({ state: "queued", attempt: 2 }),
      },
      {
        name: "appendChunks",
        run: async () => {
          const run = await running();
          return { id: run.id, write: () => appendChunks(store, run.id, 1, [chunk(0, "kept")]) };
        },
        stored: (r) => expect(r.log_chunks).toBe("1"),
      },
    ];

    it.each(writes.map((w) => [w.name, w] as const))("%s", async (_name, w) => {
      const { id, write } = await w.run();
      const got: HodeiEvent[] = [];
      let thrown = 0;
      const offs = [
        store.bus.subscribe(() => {
          thrown++;
          throw new Error("listener bug");
        }),
        store.bus.subscribe((ev) => got.push(ev)),
      ];
      let result: unknown;
      try {
        result = await write();
      } finally {
        for (const off of offs) off();
      }
      expect(result).toBeDefined();
      expect(result).not.toEqual([]);
      const row = await rawRun(store.db, id);
      w.stored(row!);
      expect(got).toHaveLength(1);
      expect(thrown).toBe(1);
      const ev = got[0]!;
      if (ev.type === "log:appended") {
        expect(ev).toMatchObject({ runId: id, attempt: 1, nextSeq: 1 });
        expect((await readChunks(store.db, id, 1, 0, 10)).map((c) => Buffer.from(c.data).toString())).toEqual(["kept"]);
      } else {
        expect(ev).toEqual(runEvent((ev as RunEvent).type, row!));
      }
    });
  });
});
