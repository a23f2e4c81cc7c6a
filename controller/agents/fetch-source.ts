// AgentService.FetchSource: a run's source bundle, by digest, in 1 MiB chunks
// (a bundle can approach gRPC's 16 MiB message cap; chunks keep each message
// small and let a later, larger limit need no protocol change).
import { status } from "@grpc/grpc-js";
import type { Logger } from "pino";
import type { FetchSourceRequest, SourceChunk } from "../../proto/gen/hodei/v1/agent.js";
import type { Store } from "../store/db.js";
import { getSourceBundle } from "../store/sources.js";
import { isDatabaseUnavailable, toServiceError } from "../api/errors.js";
import { agentHasSource } from "../store/runs.js";
import { agentOnly } from "./agent-gate.js";
import type { IdentityDeps } from "./identity.js";

const CHUNK_BYTES = 1024 * 1024;

/** Serves a bundle only to an agent with an active run that names it (agent-gate.ts says which agent calls). */
export function fetchSourceHandler(deps: IdentityDeps & { store: Store; log: Logger }) {
  return agentOnly<FetchSourceRequest, SourceChunk>(deps, "AgentService.FetchSource", (call, agent): void => {
    const { digest } = call.request;
    const fail = (code: status, details: string): void => void call.emit("error", { code, details });
    if (!/^[0-9a-f]{64}$/.test(digest)) return fail(status.INVALID_ARGUMENT, `digest must be 64 hex characters, got "${digest.slice(0, 80)}"`);
    agentHasSource(deps.store.db, agent.id, digest).then(async (mine) => (mine ? getSourceBundle(deps.store.db, digest) : "not yours" as const)).then(
      async (data) => {
        if (data === "not yours") return fail(status.PERMISSION_DENIED, `no run assigned to this agent has source bundle ${digest}`);
        if (!data) return fail(status.NOT_FOUND, `no source bundle ${digest}`);
        for (let off = 0; off < data.length; off += CHUNK_BYTES) {
          if (call.cancelled) return;
          if (!call.write({ data: data.subarray(off, off + CHUNK_BYTES) })) await new Promise((r) => call.once("drain", r));
        }
        call.end();
      },
      (err: unknown) => {
        // A database restarting is the agent's to wait out (it retries UNAVAILABLE), not the run's failure.
        if (isDatabaseUnavailable(err)) {
          deps.log.warn({ err, digest }, "cannot read a source bundle: database unavailable");
          return void call.emit("error", toServiceError(err, deps.log, "FetchSource"));
        }
        deps.log.error({ err, digest }, "cannot read a source bundle");
        fail(status.INTERNAL, "cannot read the source bundle; see the controller's log");
      },
    );
  });
}
