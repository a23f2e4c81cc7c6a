/**
 * AgentService.ReadStdin: a `hodei run -i` run's stdin for the agent running
 * one attempt of it. The stored chunks from from_seq, then each new one as it
 * is stored, until the chunk with eof.
 *
 * Shaped like StreamLogs (api/stream-logs.ts): it subscribes to the hub before
 * reading the store, so nothing committed in between is missed. Events carry
 * no bytes; every wake-up reads the store from the next sequence, a page at a
 * time, so memory is bounded by one page whatever the writer's pace, and
 * writes wait for the agent to drain (which waits for the job to read). A
 * `bus:resync` (events may have been missed) and any run change make it read
 * again; once the attempt is no longer the run's current active one it ends
 * with FAILED_PRECONDITION, and an agent that goes away unsubscribes at once.
 */
import type { ServerWritableStream } from "@grpc/grpc-js";
import type { Logger } from "pino";
import type { ReadStdinRequest, StdinData } from "../../proto/gen/hodei/v1/agent.js";
import type { Store } from "../store/db.js";
import type { LogHub } from "../logs/hub.js";
import { getRun } from "../store/runs.js";
import { readStdin } from "../store/stdin.js";
import { isTerminal } from "../runs/transitions.js";
import { ApiError, conflict, invalid, notFound, toServiceError } from "../api/errors.js";
import { agentOnly } from "./agent-gate.js";
import { streamWriter } from "../api/stream-writer.js";
import type { IdentityDeps } from "./identity.js";

const PAGE = 64;
const PAGE_BYTES = 4 << 20;

async function serve(db: Store["db"], hub: LogHub, call: ServerWritableStream<ReadStdinRequest, StdinData>, agentId: string): Promise<void> {
  const req = call.request;
  if (!/^\d{1,18}$/.test(req.runId)) throw invalid(`run_id must be a run id, got "${req.runId.slice(0, 80)}"`);
  let next = req.fromSeq;
  const out = streamWriter(call);
  // Stdin chunks, run changes (an attempt's end) and catch-ups; log chunks are not ours.
  const unsubscribe = hub.subscribe(req.runId, (ev) => ev.type !== "log:appended" && out.poke());
  try {
    // Read at once, then again after every poke (one read covers any number of them).
    for (let first = true; !out.gone; first = false) {
      if (!first) await out.wait();
      if (out.gone) return;
      const run = await getRun(db, req.runId);
      if (!run) throw notFound(`run ${req.runId}`);
      // Only the agent the attempt is assigned to reads its stdin (agent-gate.ts says which agent calls).
      if (run.agent_id !== agentId) throw new ApiError("permission", `run ${run.id} is not assigned to this agent`);
      if (!run.stdin) throw conflict(`run ${run.id} was not submitted with stdin`);
      if (run.attempt !== req.attempt || isTerminal(run.state)) throw conflict(`attempt ${req.attempt} of run ${run.id} is over; its stdin is no longer served`);
      for (;;) {
        const rows = await readStdin(db, run.id, next, PAGE, PAGE_BYTES);
        for (const r of rows) {
          await out.write({ seq: Number(r.seq), data: r.data, eof: r.eof });
          next = Number(r.seq) + 1;
          if (r.eof) return;
        }
        if (rows.length === 0 || out.gone) break;
      }
    }
  } finally {
    unsubscribe();
  }
}

export function readStdinHandler(deps: IdentityDeps & { store: Store; hub: LogHub; log: Logger }) {
  return agentOnly<ReadStdinRequest, StdinData>(deps, "AgentService.ReadStdin", (call, agent) => {
    serve(deps.store.db, deps.hub, call, agent.id).then(
      () => call.end(),
      (err: unknown) => call.emit("error", toServiceError(err, deps.log, "ReadStdin")),
    );
  });
}
