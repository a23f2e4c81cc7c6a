/**
 * Delivers what an operator asked for to the agent that must act on it, from
 * whichever controller holds that agent's stream: a cancel of an assigned or
 * running run (`run:cancelled`, announced by the store when the request is
 * recorded), a drain (`agent:drain`) and a revocation (`agent:revoked`). After a bus gap it catches up from
 * the store: every cancel requested and every drain recorded for an agent
 * connected here is delivered again (agents ignore a cancel for a run they
 * no longer have, and a second drain).
 */
import { status } from "@grpc/grpc-js";
import type { Logger } from "pino";
import type { Bus } from "../bus/bus.js";
import type { HodeiEvent } from "../bus/events.js";
import type { Db } from "../store/db.js";
import { getRun } from "../store/runs.js";
import { cancelRequestedOf, drainingAmong, revokedAmong } from "../store/agents.js";
import { killGraceMs } from "../runs/exec-spec.js";
import type { AgentRegistry } from "./registry.js";
import type { RunRow } from "../store/schema.js";

export function startDelivery(deps: { db: Db; bus: Bus; agents: AgentRegistry; log: Logger }): () => void {
  const { db, agents, log } = deps;
  const cancel = (run: Pick<RunRow, "id" | "attempt" | "agent_id" | "message" | "job">): void => {
    if (!run.agent_id) return;
    agents.send(run.agent_id, { msg: { $case: "cancel", value: { runId: String(run.id), attempt: run.attempt, reason: run.message || "cancelled", graceMs: killGraceMs(run.job) } } });
  };
  const drain = (agentId: string, reason: string, deadlineMs: number): void => {
    const s = agents.get(agentId);
    if (!s) return;
    s.draining = true;
    s.send({ msg: { $case: "drain", value: { reason, deadlineMs } } });
    agents.changed();
  };
  // Its credential is gone: end its stream. It redials with the old credential, which is refused.
  const revoke = (agentId: string): void => {
    const s = agents.get(agentId);
    if (!s) return;
    log.warn({ agent: s.name }, "agent revoked; closing its stream");
    agents.remove(s);
    s.close({ code: status.UNAUTHENTICATED, details: "this agent was revoked (hodei agents revoke); it may join again only with a join token" });
  };
  const failed = (what: string) => (err: unknown) => log.warn({ err }, `could not deliver ${what}`);

  const hear = (ev: HodeiEvent): void => {
    switch (ev.type) {
      case "run:cancelled":
        if (!ev.agentId || !agents.get(ev.agentId)) return;
        void getRun(db, ev.runId).then((run) => run && run.attempt === ev.attempt && cancel(run), failed(`the cancel of run ${ev.runId}`));
        return;
      case "agent:drain":
        drain(ev.agentId, ev.reason, ev.deadlineMs);
        return;
      case "agent:revoked":
        revoke(ev.agentId);
        return;
      case "bus:resync": {
        const here = agents.all().map((s) => s.id);
        if (here.length === 0) return;
        void cancelRequestedOf(db, here).then((runs) => runs.forEach(cancel), failed("cancels after a bus gap"));
        void revokedAmong(db, here).then((ids) => ids.forEach(revoke), failed("revocations after a bus gap"));
        void drainingAmong(db, here).then((ids) => ids.forEach((id) => agents.get(id)?.draining || drain(id, "drained by an operator", 0)), failed("drains after a bus gap"));
        return;
      }
      default:
        return;
    }
  };
  return deps.bus.subscribe(hear);
}
