/**
 * The run state machine: data plus one pure function. Persisting a transition
 * is the store's job (compare-and-set on the state read here); nothing else in
 * the code base decides which state follows which.
 *
 *   queued ──assign──▶ assigned ──start──▶ running ──finish──▶ succeeded | failed | timed_out | cancelled
 *     │                   │  ▲                │
 *     ├──cancel──▶ cancelled  └──requeue (agent lost before start)
 *     └──unschedulable──▶ failed (no agent can take it)
 *     ▲                                        │
 *     └──────────── retry (attempt + 1) ───────┘ (assigned or running)
 *
 * A cancel of an assigned or running run does not change its state: it marks
 * the run and asks the agent, and the run ends when the agent reports. A
 * requeue of an assignment whose cancel was requested meanwhile ends it
 * cancelled (nothing would cancel it once queued). Log chunks are accepted
 * only while a run is assigned or running.
 *
 * This module imports nothing: the store derives the from-states of each
 * compare-and-set write from it (`fromStates`), so the SQL can never allow a
 * transition this function does not.
 */
/** A run's state; the store's `runs.state` column holds exactly these. */
export type RunState = "queued" | "assigned" | "running" | "succeeded" | "failed" | "cancelled" | "timed_out";

/** Every state, in lifecycle order (the API's list of valid states comes from here). */
export const RUN_STATES: readonly RunState[] = ["queued", "assigned", "running", "succeeded", "failed", "cancelled", "timed_out"];

/** Why an attempt ended; mirrors FinishReason in proto/hodei/v1/common.proto. */
/**
 * `checkout`: the agent could not check the repository out at the run's
 * commit, so the job never started (git's error is in the run's log).
 */
export type FinishReason = "exited" | "signaled" | "timeout" | "cancelled" | "spawn_failed" | "infrastructure" | "unschedulable" | "checkout";

export type RunEvent =
  | { type: "assign" }
  | { type: "start" }
  | { type: "finish"; reason: FinishReason; exitCode?: number | null }
  | { type: "cancel" }
  | { type: "requeue"; cancelRequested?: boolean }
  | { type: "log" }
  | { type: "retry" }
  | { type: "unschedulable" };

export const TERMINAL_STATES: readonly RunState[] = ["succeeded", "failed", "cancelled", "timed_out"];
export const ACTIVE_STATES: readonly RunState[] = ["assigned", "running"];

export function isTerminal(state: RunState): boolean {
  return TERMINAL_STATES.includes(state);
}

/** The state an attempt's outcome leads to. */
export function outcomeState(reason: FinishReason, exitCode?: number | null): RunState {
  switch (reason) {
    case "exited":
      return exitCode === 0 ? "succeeded" : "failed";
    case "timeout":
      return "timed_out";
    case "cancelled":
      return "cancelled";
    case "signaled":
    case "spawn_failed":
    case "infrastructure":
    case "unschedulable":
    case "checkout":
      return "failed";
  }
}

export class IllegalTransitionError extends Error {
  constructor(
    readonly from: RunState,
    readonly event: RunEvent["type"],
  ) {
    super(`a run that is ${from} cannot ${event}`);
    this.name = "IllegalTransitionError";
  }
}

/**
 * The state after `event`, or an IllegalTransitionError (returned, not thrown,
 * so callers on hot paths decide whether it is a bug or a late report).
 */
export function nextState(current: RunState, event: RunEvent): RunState | IllegalTransitionError {
  switch (event.type) {
    case "assign":
      return current === "queued" ? "assigned" : new IllegalTransitionError(current, event.type);
    case "start":
      return current === "assigned" ? "running" : new IllegalTransitionError(current, event.type);
    case "finish":
      // A process that never started (spawn failure) finishes straight from assigned.
      return current === "assigned" || current === "running"
        ? outcomeState(event.reason, event.exitCode)
        : new IllegalTransitionError(current, event.type);
    case "cancel":
      if (current === "queued") return "cancelled";
      if (current === "assigned" || current === "running") return current;
      return new IllegalTransitionError(current, event.type);
    case "requeue":
      if (current !== "assigned") return new IllegalTransitionError(current, event.type);
      return event.cancelRequested ? "cancelled" : "queued";
    case "log":
      // Not a change of state: chunks are stored only for an attempt that is live.
      return current === "assigned" || current === "running" ? current : new IllegalTransitionError(current, event.type);
    case "unschedulable":
      // No agent can take the queued run: it fails, with the reason why.
      return current === "queued" ? "failed" : new IllegalTransitionError(current, event.type);
    case "retry":
      // The attempt ended in a way its retry policy covers: the run queues again as attempt + 1.
      return current === "assigned" || current === "running" ? "queued" : new IllegalTransitionError(current, event.type);
  }
}

/**
 * The states from which `event` is legal (optionally: and leads to a state
 * `to` accepts). Every compare-and-set write in the store names exactly these.
 */
export function fromStates(event: RunEvent, to?: (next: RunState, from: RunState) => boolean): RunState[] {
  return RUN_STATES.filter((s) => {
    const next = nextState(s, event);
    return !(next instanceof IllegalTransitionError) && (to === undefined || to(next, s));
  });
}
