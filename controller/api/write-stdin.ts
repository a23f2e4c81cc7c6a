/**
 * ControlService.WriteStdin: the CLI's stdin for a `hodei run -i` run. Each
 * chunk is stored (store/stdin.ts, idempotent by sequence) before it is
 * acknowledged, one at a time in arrival order; the first refusal ends the
 * stream with its error. Agents read the chunks back with ReadStdin.
 */
import type { ServerDuplexStream } from "@grpc/grpc-js";
import type { Logger } from "pino";
import type { StdinAck, StdinChunk } from "../../proto/gen/hodei/v1/control.js";
import type { Writer } from "../store/runs.js";
import { appendStdin, type AppendStdinResult } from "../store/stdin.js";
import { conflict, invalid, notFound, toServiceError } from "./errors.js";

/** One message's data, as the CLI sends it; well under gRPC's 16 MiB message cap. */
export const MAX_STDIN_CHUNK = 1 << 20;
/** Messages read but not yet stored before the stream stops reading (so a client that ignores acks holds at most this many MiB here). */
const MAX_PENDING = 8;

/** "64 MiB (67108864 bytes)", or just the bytes below 1 MiB. */
const size = (n: number): string => (n >= 1 << 20 ? `${Math.round((n / (1 << 20)) * 10) / 10} MiB (${n} bytes)` : `${n} bytes`);

/** The stored chunk's next sequence, or the refusal as an API error. */
function answer(r: AppendStdinResult, runId: string, maxBytes: number): number {
  switch (r.kind) {
    case "stored":
      return r.nextSeq;
    case "not_found":
      throw notFound(`run ${runId}`);
    case "no_stdin":
      throw conflict(`run ${runId} was not submitted with stdin (hodei run -i), so its job's stdin is closed`);
    case "ended":
      throw conflict(`run ${runId} already ended (${r.state}); it takes no more stdin`);
    case "closed":
      throw conflict(`the stdin of run ${runId} is already closed (eof was sent)`);
    case "gap":
      throw invalid(`stdin chunk out of order for run ${runId}: expected sequence ${r.nextSeq}`);
    case "too_large":
      throw invalid(`stdin of run ${runId} is over the controller's limit of ${size(maxBytes)}; pass large inputs in the job's source or fetch them from the job instead`);
  }
}

export function writeStdinHandler(deps: { store: Writer; log: Logger; maxStdinBytes: number; mayWrite?: (call: object, runId: string) => Promise<void> }) {
  return (call: ServerDuplexStream<StdinChunk, StdinAck>): void => {
    let chain: Promise<void> = Promise.resolve();
    /** The runs the caller was found allowed to feed (checked once per run). */
    const allowed = new Set<string>();
    let failed = false;
    let pending = 0;
    const fail = (err: unknown): void => {
      if (failed) return;
      failed = true;
      call.emit("error", toServiceError(err, deps.log, "WriteStdin"));
    };
    call.on("data", (c: StdinChunk) => {
      if (++pending >= MAX_PENDING) call.pause();
      chain = chain.then(async () => {
        if (--pending < MAX_PENDING && call.isPaused()) call.resume();
        if (failed || call.cancelled) return;
        try {
          if (!/^\d{1,18}$/.test(c.runId)) throw invalid(`run_id must be a run id, got "${c.runId.slice(0, 80)}"`);
          if (c.data.byteLength > MAX_STDIN_CHUNK) throw invalid(`a stdin chunk holds at most ${MAX_STDIN_CHUNK} bytes, got ${c.data.byteLength}`);
          if (deps.mayWrite && !allowed.has(c.runId)) {
            await deps.mayWrite(call, c.runId);
            allowed.add(c.runId);
          }
          const nextSeq = answer(await appendStdin(deps.store, c.runId, { seq: c.seq, data: c.data, eof: c.eof }, deps.maxStdinBytes), c.runId, deps.maxStdinBytes);
          call.write({ nextSeq });
        } catch (err) {
          fail(err);
        }
      });
    });
    call.on("end", () => {
      void chain.then(() => {
        if (!failed) call.end();
      });
    });
    call.on("error", () => {
      failed = true;
    });
  };
}
