// Leaving, in order: take no new work; let running jobs finish until the
// deadline (or until hurried by a second signal), then cancel them; wait
// (bounded) until the controller has every log chunk and result; kill what
// jobs left behind; say GoingAway; close the stream; delete spool files.
import type { AgentRuntime } from "./agent.js";

/** After SIGKILL a job's pipes close at once; this covers a slow machine. */
const AFTER_KILL_SLACK_MS = 5_000;

export async function shutdown(rt: AgentRuntime, reason: string, deadlineMs: number, hurry: Promise<void>): Promise<void> {
  rt.draining = true;
  const idle = () => rt.running() === 0;
  rt.log.info({ reason, running: rt.running(), deadlineMs: deadlineMs || "none" }, "draining: no new work");

  if (!(await rt.changes.until(idle, deadlineMs > 0 ? deadlineMs : Infinity, hurry))) {
    rt.log.warn({ running: rt.running() }, "cancelling the runs still going");
    const maxGrace = Math.max(0, ...rt.outbox.records().map((r) => r.killGraceMs));
    rt.cancelAll(`the agent is shutting down (${reason})`);
    if (!(await rt.changes.until(idle, maxGrace + AFTER_KILL_SLACK_MS))) {
      rt.log.error({ running: rt.running() }, "runs did not end after SIGKILL; leaving anyway");
    }
  }

  // Delivered = every chunk acknowledged and RunFinished written on the live
  // stream; GoingAway then follows it on the same ordered stream.
  const delivered = () => {
    const runs = rt.outbox.records();
    return runs.length === 0 || (rt.connection.connected && runs.every((r) => r.pipe.allAcked && r.finishedSentOn === rt.connection.generation));
  };
  if (!(await rt.changes.until(delivered, rt.opts.flushTimeoutMs))) {
    rt.log.warn({ runs: rt.runs(), connected: rt.connection.connected }, "leaving before the controller acknowledged every log chunk and result");
  }

  // Leftovers of finished jobs whose SIGKILL is still pending (its timer would die with us).
  await rt.executor.close();
  rt.stopHeartbeat();
  await rt.connection.close({ msg: { $case: "goingAway", value: { reason } } });
  // What the controller never acknowledged is lost with the agent; free the disk it holds.
  for (const r of rt.outbox.records()) r.pipe.discard();
  rt.log.info("agent stopped");
}
