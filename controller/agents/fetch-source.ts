// AgentService.FetchSource: a run's source bundle, by digest, in 1 MiB chunks
// (a bundle can approach gRPC's 16 MiB message cap; chunks keep each message
// small and let a later, larger limit need no protocol change).
import { status, type ServerWritableStream } from "@grpc/grpc-js";
import type { Logger } from "pino";
import type { FetchSourceRequest, SourceChunk } from "../../proto/gen/hodei/v1/agent.js";
import type { Store } from "../store/db.js";
import { getSourceBundle } from "../store/sources.js";
import { isDatabaseUnavailable, toServiceError } from "../api/errors.js";

const CHUNK_BYTES = 1024 * 1024;

export function fetchSourceHandler(deps: { store: Store; log: Logger }) {
  return (call: ServerWritableStream<FetchSourceRequest, SourceChunk>): void => {
    const { digest } = call.request;
    const fail = (code: status, details: string): void => void call.emit("error", { code, details });
    if (!/^[0-9a-f]{64}$/.test(digest)) return fail(status.INVALID_ARGUMENT, `digest must be 64 hex characters, got "${digest.slice(0, 80)}"`);
    getSourceBundle(deps.store.db, digest).then(
      async (data) => {
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
  };
}
