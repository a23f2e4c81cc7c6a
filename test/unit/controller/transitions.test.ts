import { describe, expect, it } from "vitest";
import { nextState, IllegalTransitionError, outcomeState, isTerminal, type RunEvent, type RunState } from "../../../controller/runs/transitions.js";

const STATES: RunState[] = ["queued", "assigned", "running", "succeeded", "failed", "cancelled", "timed_out"];

// The whole machine as a table: state -> event -> next state; anything absent is illegal.
const EVENTS: Record<string, RunEvent> = {
  assign: { type: "assign" },
  start: { type: "start" },
  "finish exit 0": { type: "finish", reason: "exited", exitCode: 0 },
  "finish exit 3": { type: "finish", reason: "exited", exitCode: 3 },
  "finish signaled": { type: "finish", reason: "signaled" },
  "finish timeout": { type: "finish", reason: "timeout" },
  "finish cancelled": { type: "finish", reason: "cancelled" },
  "finish spawn_failed": { type: "finish", reason: "spawn_failed" },
  "finish infrastructure": { type: "finish", reason: "infrastructure" },
  cancel: { type: "cancel" },
  requeue: { type: "requeue" },
  retry: { type: "retry" },
  unschedulable: { type: "unschedulable" },
};

const FINISHES = {
  "finish exit 0": "succeeded",
  "finish exit 3": "failed",
  "finish signaled": "failed",
  "finish timeout": "timed_out",
  "finish cancelled": "cancelled",
  "finish spawn_failed": "failed",
  "finish infrastructure": "failed",
} as const;

const LEGAL: Partial<Record<RunState, Record<string, RunState>>> = {
  queued: { assign: "assigned", cancel: "cancelled", unschedulable: "failed" },
  assigned: { start: "running", cancel: "assigned", requeue: "queued", retry: "queued", ...FINISHES },
  running: { cancel: "running", retry: "queued", ...FINISHES },
};

describe("run state transitions", () => {
  for (const state of STATES) {
    for (const [name, event] of Object.entries(EVENTS)) {
      const expected = LEGAL[state]?.[name];
      it(`${state} --${name}--> ${expected ?? "illegal"}`, () => {
        const got = nextState(state, event);
        if (expected) {
          expect(got).toBe(expected);
        } else {
          expect(got).toBeInstanceOf(IllegalTransitionError);
          expect((got as IllegalTransitionError).message).toBe(`a run that is ${state} cannot ${event.type}`);
        }
      });
    }
  }

  it("terminal states are exactly the four outcomes", () => {
    expect(STATES.filter(isTerminal)).toEqual(["succeeded", "failed", "cancelled", "timed_out"]);
  });

  it("an exit code other than 0 fails the run, whatever its value", () => {
    expect(outcomeState("exited", 0)).toBe("succeeded");
    expect(outcomeState("exited", 1)).toBe("failed");
    expect(outcomeState("exited", 255)).toBe("failed");
    expect(outcomeState("exited", null)).toBe("failed");
  });
});
