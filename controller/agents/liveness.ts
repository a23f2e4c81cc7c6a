/**
 * Lost agents. Every heartbeat interval the controller:
 *  1. drops sessions silent for longer than the grace (a half-open or
 *     black-holed connection never says goodbye);
 *  2. ends the runs of agents connected nowhere and unseen for longer than
 *     the grace: started runs fail as `infrastructure` (and are retried per
 *     their policy), assigned-but-not-started ones queue again as attempt + 1.
 * Step 2 reads the database, so it also covers agents of a controller that
 * died. After start-up it waits one grace plus the agents' longest reconnect
 * backoff, so agents that were waiting out their backoff come back first. An
 * agent that comes back within the grace resumes its runs (see reconcile).
 */
import { sql } from "kysely";
import type { AgentServiceDeps } from "./service.js";
import { setAgentState } from "../store/agents.js";
import { requeueLost } from "../store/attempts.js";
import { endAttempt } from "../runs/end-attempt.js";
import { isDatabaseUnavailable } from "../api/errors.js";
import { ACTIVE, failUnschedulable, unplaceableRuns } from "../store/runs.js";
import type { RunRow } from "../store/schema.js";
import { inStates } from "../store/sql-states.js";

export interface LivenessDeps extends Omit<AgentServiceDeps, "db" | "audit" | "seedHash"> {
  /** Silent heartbeat intervals before an agent is lost. */
  lostAfterIntervals: number;
  /** A queued run no connected agent can take fails after this long (unschedulable). */
  unschedulableAfterMs: number;
  /** An assignment its agent has not started after this long is taken back (attempt + 1). */
  startDeadlineMs: number;
}

/** The agent's reconnect backoff cap (agent/config.ts DEFAULTS.backoff.maxMs), plus jitter margin. */
export const AGENT_RECONNECT_MAX_MS = 12_000;

/** Starts the periodic check; the returned function stops it and waits for a check in flight. */
export function startLiveness(deps: LivenessDeps): () => Promise<void> {
  const graceMs = deps.heartbeatIntervalMs * deps.lostAfterIntervals;
  const startupWaitMs = graceMs + AGENT_RECONNECT_MAX_MS;
  const startedAt = Date.now();
  let inFlight: Promise<void> | undefined;
  const timer = setInterval(() => {
    if (inFlight) return;
    // Agents are judged only after the controller could hear them for a whole wait:
    // since it started, and since its database last failed (agents were turned away then).
    const hearingSince = Math.max(startedAt, deps.health.databaseTroubleAt);
    inFlight = check(deps, graceMs, Date.now() - hearingSince > startupWaitMs)
      .catch((err: unknown) => {
        if (isDatabaseUnavailable(err)) deps.health.noteDatabaseTrouble();
        deps.log.warn({ err }, "lost-agent check failed");
      })
      .finally(() => (inFlight = undefined));
    // A quarter interval: an agent is judged at most a quarter interval after its grace ends.
  }, Math.max(50, Math.min(deps.heartbeatIntervalMs / 4, 5_000)));
  timer.unref();
  // The store closes after this: a check still querying it then could crash an embedded (PGlite) database.
  return async () => {
    clearInterval(timer);
    await inFlight;
  };
}

async function check(deps: LivenessDeps, graceMs: number, sweepStale: boolean): Promise<void> {
  const now = Date.now();
  for (const s of deps.agents.all()) {
    if (now - s.lastSeen <= graceMs) continue;
    deps.log.warn({ agent: s.name, silentMs: now - s.lastSeen }, "agent silent past its grace; dropping its connection");
    deps.agents.remove(s);
    s.close();
    await setAgentState(deps.store.db, s.id, "disconnected");
  }
  await takeBackUnstarted(deps, now);
  await failUnplaceable(deps);
  if (!sweepStale) return;
  const live = deps.agents.all().map((s) => s.id);
  const stale = await sql<RunRow & { agent_name: string }>`
    select runs.*, agents.name as agent_name from runs join agents on agents.id = runs.agent_id
    where runs.state in (${inStates(ACTIVE)})
      and agents.last_seen_at < now() - ${`${graceMs} milliseconds`}::interval
      ${live.length ? sql`and runs.agent_id not in (${sql.join(live)})` : sql``}`.execute(deps.store.db);
  const lostAgents = new Set<string>();
  for (const run of stale.rows) {
    const message = `agent ${run.agent_name} was lost (no word for over ${Math.round(graceMs / 1000)}s)`;
    lostAgents.add(run.agent_id!);
    if (run.state === "assigned") {
      await requeueLost(deps.store, run.id, run.attempt, message);
    } else {
      await endAttempt(deps.store, run.id, run.attempt, { reason: "infrastructure", exitCode: null, signal: null, message, at: new Date() });
    }
    deps.log.warn({ run: run.id, attempt: run.attempt, agent: run.agent_name }, message);
  }
  for (const id of lostAgents) await setAgentState(deps.store.db, id, "lost");
}

/**
 * An agent that keeps runs assigned without starting them (broken, or claiming
 * slots it does not have) holds them from every other agent. Past the start
 * deadline the assignment is taken back as attempt + 1 (so a late start from
 * that agent is fenced off) and the agent is told to drop it.
 */
async function takeBackUnstarted(deps: LivenessDeps, now: number): Promise<void> {
  for (const s of deps.agents.all()) {
    for (const [runId, a] of [...s.running]) {
      if (a.started || a.takenBack || a.assignedAt === undefined || now - a.assignedAt <= deps.startDeadlineMs) continue;
      const message = `agent ${s.name} did not start the run within ${Math.round(deps.startDeadlineMs / 1000)}s of its assignment; assigned again`;
      // The slot stays taken until the agent answers the cancel (a well-behaved one reports the
      // attempt ended), so an agent that ignores its assignments is not handed the run again.
      a.takenBack = true;
      s.send({ msg: { $case: "cancel", value: { runId, attempt: a.attempt, reason: message, graceMs: 0 } } });
      const after = await requeueLost(deps.store, runId, a.attempt, message);
      if (after) deps.log.warn({ run: runId, attempt: a.attempt, agent: s.name }, message);
    }
  }
}

/**
 * Queued runs whose selector no connected agent satisfies, for longer than the
 * allowed wait, fail as unschedulable, saying which labels were wanted and
 * which agents there are. While no agent is connected, nothing is judged.
 */
async function failUnplaceable(deps: LivenessDeps): Promise<void> {
  const sessions = deps.agents.all().filter((s) => !s.draining);
  // With no agent at all there is nothing to judge against: runs wait for agents
  // (and the embedded controller checks before its local agent has connected).
  if (sessions.length === 0) return;
  const runs = await unplaceableRuns(deps.store.db, sessions.map((s) => s.labels), deps.unschedulableAfterMs);
  const fmt = (l: Record<string, string>): string => `{${Object.entries(l).map(([k, v]) => `${k}=${v}`).join(", ")}}`;
  const agents = sessions.length ? sessions.slice(0, 5).map((s) => `${s.name} ${fmt(s.labels)}`).join("; ") + (sessions.length > 5 ? `; and ${sessions.length - 5} more` : "") : "none connected";
  for (const run of runs) {
    const message = `no agent can take this run: it needs labels ${fmt(run.selector)}; agents: ${agents}`;
    await failUnschedulable(deps.store, run.id, message);
  }
}
