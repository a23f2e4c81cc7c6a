/**
 * The store and the state machine agree: for every state a run can be in
 * (RUN_STATES) and every store write that moves a run, the write succeeds iff
 * `nextState(state, event)` is legal, and the stored state afterwards is the
 * one nextState names; a refused write changes nothing at all.
 *
 * Table-driven on purpose: a state added to RUN_STATES is tried against every
 * write (and cannot even be stored unless the schema knows it), and an event
 * added to the state machine without a store write here fails to type-check
 * (WRITES is keyed by every event type).
 */
import { sql } from "kysely";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { cancelQueued, claimRuns, failUnschedulable, markStarted, requestCancel, requeueAssigned } from "../../../../controller/store/runs.js";
import { finishAttempt, requeueLost, type AttemptOutcome, type RetryPolicy } from "../../../../controller/store/attempts.js";
import { appendChunks } from "../../../../controller/store/logs.js";
import type { RunRow } from "../../../../controller/store/schema.js";
import {
  IllegalTransitionError,
  RUN_STATES,
  isTerminal,
  nextState,
  type FinishReason,
  type RunEvent as Transition,
  type RunState,
} from "../../../../controller/runs/transitions.js";
import type { Writer } from "../../../../controller/store/runs.js";
import { DIALECTS, createTestStore, type TestStore } from "../../../helpers/db.js";
import { rawRun, reset, submit } from "./fixtures.js";

const T0 = new Date("2030-01-02T03:04:05.678Z");
const AGENT = "agent-1";
/** A job with a retry policy, so a retrying policy is consulted (finishAttempt ends a job without one in one statement). */
const JOB = { name: "build", run: "false", spec: { retries: { limit: 3 } } };
const RETRY: RetryPolicy = { mayRetry: true, decide: () => ({ retry: true, delayMs: 0 }) };
const DECLINE: RetryPolicy = { mayRetry: true, decide: () => ({ retry: false, delayMs: 0 }) };

interface Target {
  s: Writer;
  id: string;
  /** The only labels whose claim matches this run. */
  labels: Record<string, string>;
}

interface StoreWrite<E extends Transition = Transition> {
  name: string;
  event: E;
  /** The run's cancel_requested flag before the write. */
  cancelRequested?: boolean;
  /**
   * Whether this write (of several for one event) is the one that carries out
   * the transition from `from` to `next`; by default every legal transition.
   */
  carries?: (from: RunState, next: RunState) => boolean;
  /** Calls the store; true when it reports a change. */
  call(t: Target): Promise<boolean>;
  /** The run's attempt after a successful write. */
  attemptAfter?: number;
}

type Writes = { [K in Transition["type"]]: StoreWrite<Extract<Transition, { type: K }>>[] };

const outcome = (reason: FinishReason, exitCode: number | null): AttemptOutcome => ({ reason, exitCode, signal: reason === "signaled" ? "SIGKILL" : null, message: "m", at: T0 });
/** Every way an attempt ends (keyed by reason, so a new reason must be added here). */
const OUTCOMES: Record<FinishReason, (number | null)[]> = {
  exited: [0, 1],
  signaled: [null],
  timeout: [null],
  cancelled: [null],
  spawn_failed: [null],
  checkout: [null],
  infrastructure: [null],
  unschedulable: [null],
};

const defined = async (p: Promise<unknown>): Promise<boolean> => (await p) !== undefined;

const WRITES: Writes = {
  assign: [{ name: "claimRuns", event: { type: "assign" }, call: async (t) => (await claimRuns(t.s, AGENT, t.labels, 1)).length === 1 }],
  start: [{ name: "markStarted", event: { type: "start" }, call: (t) => defined(markStarted(t.s, t.id, 1, T0)) }],
  finish: [
    ...Object.entries(OUTCOMES).flatMap(([reason, codes]) =>
      codes.map(
        (exitCode): StoreWrite<Extract<Transition, { type: "finish" }>> => ({
          name: `finishAttempt(${reason}${exitCode === null ? "" : ` ${exitCode}`})`,
          event: { type: "finish", reason: reason as FinishReason, exitCode },
          call: (t) => defined(finishAttempt(t.s, t.id, 1, outcome(reason as FinishReason, exitCode))),
        }),
      ),
    ),
    {
      name: "finishAttempt(exited 1, a policy that declines)",
      event: { type: "finish", reason: "exited", exitCode: 1 },
      call: (t) => defined(finishAttempt(t.s, t.id, 1, outcome("exited", 1), DECLINE)),
    },
    {
      name: "finishAttempt(exited 1, a retrying policy, cancel requested)",
      event: { type: "finish", reason: "exited", exitCode: 1 },
      cancelRequested: true,
      call: (t) => defined(finishAttempt(t.s, t.id, 1, outcome("exited", 1), RETRY)),
    },
  ],
  retry: [
    {
      name: "finishAttempt(exited 1, a retrying policy)",
      event: { type: "retry" },
      attemptAfter: 2,
      call: async (t) => {
        const ended = await finishAttempt(t.s, t.id, 1, outcome("exited", 1), RETRY);
        if (ended) expect(ended.retried).toBe(true);
        return ended !== undefined;
      },
    },
  ],
  cancel: [
    {
      name: "cancelQueued, else requestCancel",
      event: { type: "cancel" },
      call: async (t) => (await cancelQueued(t.s, t.id, "no")) !== undefined || (await requestCancel(t.s, t.id, "no")) !== undefined,
    },
    { name: "cancelQueued", event: { type: "cancel" }, carries: (_from, next) => isTerminal(next), call: (t) => defined(cancelQueued(t.s, t.id, "no")) },
    { name: "requestCancel", event: { type: "cancel" }, carries: (from, next) => next === from, call: (t) => defined(requestCancel(t.s, t.id, "no")) },
  ],
  requeue: [false, true].flatMap((cancelRequested) => [
    {
      name: `requeueAssigned${cancelRequested ? " (cancel requested)" : ""}`,
      event: { type: "requeue" as const, cancelRequested },
      cancelRequested,
      attemptAfter: 1,
      call: (t: Target) => defined(requeueAssigned(t.s, t.id, 1)),
    },
    {
      name: `requeueLost${cancelRequested ? " (cancel requested)" : ""}`,
      event: { type: "requeue" as const, cancelRequested },
      cancelRequested,
      attemptAfter: cancelRequested ? 1 : 2,
      call: (t: Target) => defined(requeueLost(t.s, t.id, 1, "agent lost")),
    },
  ]),
  log: [
    {
      name: "appendChunks",
      event: { type: "log" },
      call: (t) => defined(appendChunks(t.s, t.id, 1, [{ seq: 0, stream: 1, data: new Uint8Array([104, 105]), tsMs: 1 }])),
    },
  ],
  unschedulable: [{ name: "failUnschedulable", event: { type: "unschedulable" }, call: (t) => defined(failUnschedulable(t.s, t.id, "no agent")) }],
};

const ALL_WRITES: StoreWrite[] = Object.values(WRITES).flat();
const CASES = RUN_STATES.flatMap((state) => ALL_WRITES.map((w) => [state, w.name, w] as const));

describe("the table of store writes", () => {
  it("has a write for every event of the state machine", () => {
    for (const [event, writes] of Object.entries(WRITES)) expect(writes.length, event).toBeGreaterThan(0);
  });

  it("names every write once", () => {
    expect(new Set(ALL_WRITES.map((w) => w.name)).size).toBe(ALL_WRITES.length);
  });
});

describe.each(DIALECTS)("the store agrees with nextState (%s)", (dialect) => {
  let store: TestStore;
  beforeAll(async () => {
    store = await createTestStore(dialect);
    await reset(store.db);
  });
  afterAll(() => store?.dispose());

  let made = 0;
  /** A run forced into `state` on attempt 1 (on an agent unless queued), with only its own labels matching it. */
  async function runIn(state: RunState, cancelRequested: boolean): Promise<Target> {
    const labels = { only: String(++made) };
    const run = await submit(store, { selector: labels, job: JOB });
    await sql`update runs set state = ${state}, agent_id = ${state === "queued" ? null : AGENT}, attempt = 1,
      cancel_requested = ${cancelRequested}, finished_at = ${isTerminal(state) ? T0 : null}
      where id = ${run.id}`.execute(store.db);
    expect((await rawRun(store.db, run.id))?.state).toBe(state);
    return { s: store, id: run.id, labels };
  }

  /** Everything a write could change about one run. */
  async function snapshot(id: string): Promise<{ run: RunRow | undefined; attempts: number; chunks: number }> {
    const count = async (table: "run_attempts" | "log_chunks") =>
      Number((await store.db.selectFrom(table).select((eb) => eb.fn.countAll<string>().as("n")).where("run_id", "=", id).executeTakeFirstOrThrow()).n);
    return { run: await rawRun(store.db, id), attempts: await count("run_attempts"), chunks: await count("log_chunks") };
  }

  it.each(CASES)("from %s: %s", async (state, _name, w) => {
    const t = await runIn(state, w.cancelRequested ?? false);
    const next = nextState(state, w.event);
    const legal = !(next instanceof IllegalTransitionError);
    const expected = !(next instanceof IllegalTransitionError) && (w.carries?.(state, next) ?? true);

    const before = await snapshot(t.id);
    const ok = await w.call(t);
    const after = await snapshot(t.id);

    expect(ok, `${w.name} from ${state}: nextState says ${legal ? next : "illegal"}`).toBe(expected);
    if (expected) {
      expect(after.run?.state).toBe(next);
      if (w.attemptAfter !== undefined) expect(after.run?.attempt).toBe(w.attemptAfter);
    } else {
      expect(after).toEqual(before);
    }
  });
});
