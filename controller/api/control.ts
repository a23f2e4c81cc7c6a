/**
 * ControlService: what the CLI, the TUI and the Action call. Thin handlers over
 * the store; every error goes through toServiceError once.
 */
import type { sendUnaryData, ServerUnaryCall, ServerWritableStream } from "@grpc/grpc-js";
import type { ControlServiceServer, LogEvent, StreamLogsRequest } from "../../proto/gen/hodei/v1/control.js";
import type { Store } from "../store/db.js";
import type { LogHub } from "../logs/hub.js";
import type { AgentRegistry } from "../agents/registry.js";
import { getRun, listRuns, insertRun, cancelQueued, requestCancel } from "../store/runs.js";
import { listAgents, setAgentState } from "../store/agents.js";
import { validateDocument, formatSpecError, type JobDocument } from "../../schemas/load.js";
import { agentToProto, runToProto } from "./convert.js";
import { ApiError, invalid, notFound, toServiceError } from "./errors.js";
import { isTerminal, RUN_STATES, type RunState } from "../runs/transitions.js";
import { status } from "@grpc/grpc-js";
import { streamLogs } from "./stream-logs.js";
import { listAttempts } from "../store/attempts.js";

export interface ControlDeps {
  store: Store;
  agents: AgentRegistry;
  hub: LogHub;
}

/** A job document is small; anything near this is a mistake or an attack. */
const MAX_JOB_JSON = 1 << 20;
const STATES = new Set<string>(RUN_STATES);

function unary<Req, Res>(fn: (req: Req) => Promise<Res>) {
  return (call: ServerUnaryCall<Req, Res>, cb: sendUnaryData<Res>): void => {
    fn(call.request).then(
      (res) => cb(null, res),
      (err: unknown) => cb(toServiceError(err)),
    );
  };
}

export function controlService(deps: ControlDeps): ControlServiceServer {
  const { store, agents, hub } = deps;
  const db = store.db;
  return {
    submitRun: unary(async (req) => {
      if (Buffer.byteLength(req.jobJson) > MAX_JOB_JSON) throw invalid(`job document is ${Buffer.byteLength(req.jobJson)} bytes; the limit is ${MAX_JOB_JSON}`);
      let obj: unknown;
      try {
        obj = JSON.parse(req.jobJson);
      } catch (err) {
        throw invalid(`job_json is not JSON: ${(err as Error).message}`);
      }
      const { doc, errors } = validateDocument(obj, req.source || "<submitted>");
      if (errors.length > 0 || !doc) throw invalid(errors.map(formatSpecError).join("\n") || "invalid job document");
      if (doc.kind !== "Job") throw invalid(`only kind: Job can be run, got kind: ${doc.kind}`);
      const job = doc as JobDocument;
      const { run } = await insertRun(store, {
        jobName: job.metadata.name,
        job,
        selector: job.spec.selector ?? {},
        priority: job.spec.priority ?? 0,
        source: req.source.slice(0, 1000),
        idempotencyKey: req.idempotencyKey.slice(0, 200) || undefined,
      });
      return runToProto(run);
    }),

    getRun: unary(async (req) => {
      const run = await getRun(db, req.runId);
      if (!run) throw notFound(`run ${req.runId}`);
      return runToProto(run, await listAttempts(db, run.id));
    }),

    listRuns: unary(async (req) => {
      const bad = req.states.find((s) => !STATES.has(s));
      if (bad) throw invalid(`unknown state "${bad}"; expected one of ${[...STATES].join(", ")}`);
      if (req.beforeId && !/^\d{1,18}$/.test(req.beforeId)) throw invalid(`before_id must be a run id, got "${req.beforeId}"`);
      const limit = Math.min(Math.max(req.limit || 50, 1), 1000);
      const runs = await listRuns(db, { limit, states: req.states as RunState[], jobName: req.jobName || undefined, beforeId: req.beforeId || undefined });
      return { runs: runs.map((r) => runToProto(r)) };
    }),

    cancelRun: unary(async (req) => {
      const reason = (req.reason || "cancelled by user").slice(0, 500);
      const run = await getRun(db, req.runId);
      if (!run) throw notFound(`run ${req.runId}`);
      if (isTerminal(run.state)) throw new ApiError(status.FAILED_PRECONDITION, `run ${run.id} already ended (${run.state})`);
      const queued = await cancelQueued(store, run.id, reason);
      if (queued) return runToProto(queued);
      // Recorded and announced: the controller holding the agent's stream tells it (agents/delivery.ts).
      const marked = await requestCancel(store, run.id, reason);
      const now = await getRun(db, marked?.id ?? run.id);
      if (!now) throw notFound(`run ${req.runId}`);
      return runToProto(now);
    }),

    streamLogs: (call: ServerWritableStream<StreamLogsRequest, LogEvent>): void => {
      streamLogs(db, hub, call).then(
        () => call.end(),
        // grpc-js turns an emitted 'error' into the call's status (destroy() would leave the client waiting).
        (err: unknown) => call.emit("error", toServiceError(err)),
      );
    },

    drainAgent: unary(async (req) => {
      const known = (await listAgents(db)).find((a) => a.name === req.agent || a.id === req.agent);
      if (!known) throw notFound(`agent ${req.agent}`);
      // Connected here or to another controller on this database (which hears the drain on the bus).
      if (known.state !== "connected" && known.state !== "draining") {
        throw new ApiError(status.FAILED_PRECONDITION, `agent ${known.name} is not connected (${known.state})`);
      }
      const reason = (req.reason || "drained by an operator").slice(0, 500);
      await setAgentState(db, known.id, "draining");
      await store.bus.publish({ type: "agent:drain", agentId: known.id, reason, deadlineMs: Math.max(0, req.deadlineMs) });
      const row = (await listAgents(db)).find((a) => a.id === known.id);
      if (!row) throw notFound(`agent ${req.agent}`);
      return agentToProto(row, agents.get(row.id));
    }),

    rerunRun: unary(async (req) => {
      const old = await getRun(db, req.runId);
      if (!old) throw notFound(`run ${req.runId}`);
      const job = old.job as JobDocument;
      const { run } = await insertRun(store, {
        jobName: old.job_name,
        job,
        selector: job.spec.selector ?? {},
        priority: old.priority,
        source: `rerun of ${old.id}${old.source ? ` (${old.source})` : ""}`.slice(0, 1000),
        idempotencyKey: req.idempotencyKey.slice(0, 200) || undefined,
      });
      return runToProto(run);
    }),

    listAgents: unary(async () => {
      const rows = await listAgents(db);
      return { agents: rows.map((a) => agentToProto(a, agents.get(a.id))) };
    }),
  };
}
