/**
 * ControlService: what the CLI, the TUI and the Action call. Thin handlers over
 * the store; every error goes through toServiceError once.
 */
import type { ServerWritableStream } from "@grpc/grpc-js";
import type { Logger } from "pino";
import type { AgentWatchEvent, ControlServiceServer, LogEvent, RunWatchEvent, StreamLogsRequest, WatchAgentsRequest, WatchRunsRequest } from "../../proto/gen/hodei/v1/control.js";
import type { Store } from "../store/db.js";
import type { LogHub } from "../logs/hub.js";
import type { AgentRegistry } from "../agents/registry.js";
import { getRun, listRuns, insertRun, cancelQueued, requestCancel } from "../store/runs.js";
import { listAgents, setAgentState } from "../store/agents.js";
import { validateDocument, formatSpecError, type JobDocument } from "../../schemas/load.js";
import { agentToProto, runToProto } from "./convert.js";
import { conflict, invalid, notFound, toServiceError } from "./errors.js";
import { isTerminal, RUN_STATES, type RunState } from "../runs/transitions.js";
import { streamLogs } from "./stream-logs.js";
import { writeStdinHandler } from "./write-stdin.js";
import { watchRuns } from "./watch-runs.js";
import { watchAgents } from "./watch-agents.js";
import { listAttempts } from "../store/attempts.js";
import { putSourceBundle } from "../store/sources.js";
import { unaryHandler } from "./unary.js";
import { checkManual, idempotencyKey, requestHash, sameRequest } from "./submit-checks.js";
import { checkInPlaceDir } from "./in-place.js";
import type { SubmitLimiter } from "./limits.js";
import { PROJECT_NAME, checkOwnRun, principalOf, projectFilter, projectForSubmit, seesProject } from "../auth/principal.js";
import type { RunRow } from "../store/schema.js";

export interface ControlDeps {
  store: Store;
  agents: AgentRegistry;
  hub: LogHub;
  /** Where internal errors are logged in full (the client gets their correlation id). */
  log: Logger;
  /** The most stdin bytes one run may be sent (WriteStdin). */
  maxStdinBytes: number;
  /** Runs in place (SubmitRunRequest.in_place_dir) are accepted: only the embedded daemon's controller (api/in-place.ts). */
  allowInPlace?: boolean;
  /** Submit rate per caller and queued runs per project (api/limits.ts); none: no limits. */
  limiter?: SubmitLimiter;
}

/** A job document is small; anything near this is a mistake or an attack. */
const MAX_JOB_JSON = 1 << 20;
/** As cli/source-bundle.ts: one message under gRPC's 16 MiB cap. */
const MAX_SOURCE_BUNDLE = 15 * 1024 * 1024;
const STATES = new Set<string>(RUN_STATES);
export function controlService(deps: ControlDeps): ControlServiceServer {
  const { store, agents, hub, log } = deps;
  const db = store.db;

  const unary = unaryHandler(log);

  /** The run, if the caller may see it (its token's projects): another project's run is "not found", as an unknown one. */
  async function visibleRun(call: object, runId: string): Promise<RunRow> {
    const run = await getRun(db, runId);
    if (!run || !seesProject(principalOf(call), run.project)) throw notFound(`run ${runId}`);
    return run;
  }

  return {
    submitRun: unary("SubmitRun", async (req, call) => {
      const key = idempotencyKey(req.idempotencyKey);
      const who = principalOf(call);
      if (req.project && !PROJECT_NAME.test(req.project)) throw invalid(`project "${req.project.slice(0, 100)}" must be lower case letters, digits, '.', '_' or '-', starting with a letter or digit, at most 63 characters`);
      const project = projectForSubmit(who, req.project);
      deps.limiter?.take(who?.name ?? "anonymous");
      await deps.limiter?.checkQueue(db, project);
      const bytes = Buffer.byteLength(req.jobJson);
      if (bytes > MAX_JOB_JSON) throw invalid(`job document is ${bytes} bytes; the limit is ${MAX_JOB_JSON}`);
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
      checkManual(job, "submitted by hand or through the API");
      const source = req.source.slice(0, 1000);
      if (req.sourceBundle.length > MAX_SOURCE_BUNDLE) throw invalid(`source bundle is ${req.sourceBundle.length} bytes; the limit is ${MAX_SOURCE_BUNDLE}`);
      if (req.inPlaceDir && req.sourceBundle.length > 0) throw invalid("a run in place (in_place_dir) uses that directory as it is; it cannot also have a source bundle");
      const workspaceDir = req.inPlaceDir ? await checkInPlaceDir(req.inPlaceDir, deps.allowInPlace === true) : undefined;
      const sourceDigest = req.sourceBundle.length > 0 ? await putSourceBundle(db, req.sourceBundle) : undefined;
      // A run with stdin, in place or of another project is another request than one without (older hashes had none of these parts).
      const parts = ["submit", req.jobJson, source, sourceDigest ?? ""];
      if (req.stdin) parts.push("stdin");
      if (workspaceDir) parts.push(`in-place:${workspaceDir}`);
      if (project !== "default") parts.push(`project:${project}`);
      const hash = requestHash(...parts);
      const { run, created } = await insertRun(store, {
        jobName: job.metadata.name,
        job,
        selector: job.spec.selector ?? {},
        priority: job.spec.priority ?? 0,
        source,
        idempotencyKey: key,
        requestHash: hash,
        sourceDigest,
        stdin: req.stdin,
        workspaceDir,
        project,
        submittedBy: who?.name,
      });
      return runToProto(created ? run : sameRequest(run, hash, key));
    }),

    writeStdin: writeStdinHandler({
      store,
      log,
      maxStdinBytes: deps.maxStdinBytes,
      mayWrite: async (call, runId) => checkOwnRun(principalOf(call), await visibleRun(call, runId), "send stdin to"),
    }),

    getRun: unary("GetRun", async (req, call) => {
      const run = await visibleRun(call, req.runId);
      return runToProto(run, await listAttempts(db, run.id));
    }),

    listRuns: unary("ListRuns", async (req, call) => {
      const bad = req.states.find((s) => !STATES.has(s));
      if (bad) throw invalid(`unknown state "${bad}"; expected one of ${[...STATES].join(", ")}`);
      if (req.beforeId && !/^\d{1,18}$/.test(req.beforeId)) throw invalid(`before_id must be a run id, got "${req.beforeId}"`);
      const limit = Math.min(Math.max(req.limit || 50, 1), 1000);
      const runs = await listRuns(db, { limit, states: req.states as RunState[], jobName: req.jobName || undefined, beforeId: req.beforeId || undefined, projects: projectFilter(principalOf(call)) });
      return { runs: runs.map((r) => runToProto(r)) };
    }),

    cancelRun: unary("CancelRun", async (req, call) => {
      const reason = (req.reason || "cancelled by user").slice(0, 500);
      const run = await visibleRun(call, req.runId);
      checkOwnRun(principalOf(call), run, "cancel");
      if (isTerminal(run.state)) throw conflict(`run ${run.id} already ended (${run.state})`);
      const queued = await cancelQueued(store, run.id, reason);
      if (queued) return runToProto(queued);
      // Recorded and announced: the controller holding the agent's stream tells it (agents/delivery.ts).
      const marked = await requestCancel(store, run.id, reason);
      const now = await getRun(db, marked?.id ?? run.id);
      if (!now) throw notFound(`run ${req.runId}`);
      return runToProto(now);
    }),

    streamLogs: (call: ServerWritableStream<StreamLogsRequest, LogEvent>): void => {
      streamLogs(db, hub, call, (run) => seesProject(principalOf(call), run.project)).then(
        () => call.end(),
        // grpc-js turns an emitted 'error' into the call's status (destroy() would leave the client waiting).
        (err: unknown) => call.emit("error", toServiceError(err, log, "StreamLogs")),
      );
    },

    drainAgent: unary("DrainAgent", async (req) => {
      const known = (await listAgents(db)).find((a) => a.name === req.agent || a.id === req.agent);
      if (!known) throw notFound(`agent ${req.agent}`);
      // Connected here or to another controller on this database (which hears the drain on the bus).
      if (known.state !== "connected" && known.state !== "draining") throw conflict(`agent ${known.name} is not connected (${known.state})`);
      const reason = (req.reason || "drained by an operator").slice(0, 500);
      await setAgentState(db, known.id, "draining");
      await store.bus.publish({ type: "agent:drain", agentId: known.id, reason, deadlineMs: Math.max(0, req.deadlineMs) });
      const row = (await listAgents(db)).find((a) => a.id === known.id);
      if (!row) throw notFound(`agent ${req.agent}`);
      return agentToProto(row, agents.get(row.id));
    }),

    rerunRun: unary("RerunRun", async (req, call) => {
      const key = idempotencyKey(req.idempotencyKey);
      const old = await visibleRun(call, req.runId);
      const who = principalOf(call);
      checkOwnRun(who, old, "rerun");
      deps.limiter?.take(who?.name ?? "anonymous");
      await deps.limiter?.checkQueue(db, old.project);
      const job = old.job as JobDocument;
      checkManual(job, "rerun");
      // A run in place reruns in the same directory, on a controller that allows it, if the directory is still there.
      const workspaceDir = old.workspace_dir === null ? undefined : await checkInPlaceDir(old.workspace_dir, deps.allowInPlace === true);
      const hash = requestHash("rerun", old.id);
      const { run, created } = await insertRun(store, {
        jobName: old.job_name,
        job,
        selector: job.spec.selector ?? {},
        priority: old.priority,
        source: `rerun of ${old.id}${old.source ? ` (${old.source})` : ""}`.slice(0, 1000),
        idempotencyKey: key,
        requestHash: hash,
        sourceDigest: old.source_digest ?? undefined,
        workspaceDir,
        // A rerun of a repo's run runs at the same commit, checked out the same way, as from the same event
        // (as GitHub's re-run; a fork's run stays a fork's run).
        trigger: old.trigger ?? undefined,
        repoId: old.repo_id ?? undefined,
        project: old.project,
        submittedBy: who?.name,
      });
      return runToProto(created ? run : sameRequest(run, hash, key));
    }),

    watchRuns: (call: ServerWritableStream<WatchRunsRequest, RunWatchEvent>): void => {
      watchRuns(store, call, log).then(
        () => call.end(),
        (err: unknown) => call.emit("error", toServiceError(err, log, "WatchRuns")),
      );
    },

    watchAgents: (call: ServerWritableStream<WatchAgentsRequest, AgentWatchEvent>): void => {
      watchAgents(store, agents, call).then(
        () => call.end(),
        (err: unknown) => call.emit("error", toServiceError(err, log, "WatchAgents")),
      );
    },

    listAgents: unary("ListAgents", async () => {
      const rows = await listAgents(db);
      return { agents: rows.map((a) => agentToProto(a, agents.get(a.id))) };
    }),
  };
}
