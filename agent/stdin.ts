// A `hodei run -i` job's stdin: the bytes the controller stored for the run
// (AgentService.ReadStdin), written to the job's stdin pipe in order and as
// fast as the job reads them. write() returning false waits for 'drain', and
// meanwhile the gRPC stream is not read, so the controller waits too: a job
// that reads slowly costs the agent one stream's buffer, not the whole input.
// At eof the pipe is closed. A broken stream is reopened from the next
// sequence the job lacks (with backoff; the controller may be restarting); a
// refusal (the attempt is over, the run is unknown) ends the feed. So does a
// job that exits or closes its stdin early (EPIPE): nothing is said, as
// `yes | head -1` says nothing.
import { status, type ClientReadableStream, type ServiceError } from "@grpc/grpc-js";
import type { Writable } from "node:stream";
import type { Logger } from "pino";
import type { StdinData } from "../proto/gen/hodei/v1/agent.js";
import { Backoff } from "./backoff.js";

/** Opens ReadStdin from `fromSeq`; undefined while there is no controller to ask. */
export type OpenStdin = (fromSeq: number) => ClientReadableStream<StdinData> | undefined;

export interface StdinFeed {
  /** Stop feeding and close the job's stdin (the job has finished). */
  stop(): void;
  /** Resolves once the feed is over (eof written, refused, or stopped). */
  readonly done: Promise<void>;
}

/** Codes that mean the controller will never serve this attempt's stdin: stop asking. */
const FINAL: readonly number[] = [status.FAILED_PRECONDITION, status.NOT_FOUND, status.INVALID_ARGUMENT];

export function feedStdin(open: OpenStdin, sink: Writable, log: Logger): StdinFeed {
  const backoff = new Backoff({ initialMs: 100, factor: 2, maxMs: 5_000 });
  let stopped = false;
  let call: ClientReadableStream<StdinData> | undefined;
  let timer: NodeJS.Timeout | undefined;
  let wake: (() => void) | undefined;
  let next = 0;
  const stop = (): void => {
    if (stopped) return;
    stopped = true;
    clearTimeout(timer);
    call?.cancel();
    wake?.();
    if (!sink.destroyed) sink.destroy();
  };
  // EPIPE (the job closed its stdin or exited) or any other write failure: the job wants no more.
  sink.on("error", (err: NodeJS.ErrnoException) => {
    if (err.code !== "EPIPE") log.debug({ err }, "job stdin closed");
    stop();
  });
  sink.once("close", () => stop());

  /** Resolves when the pipe can take more, or the feed has stopped. */
  const drained = (): Promise<void> =>
    new Promise((resolve) => {
      const done = (): void => {
        sink.off("drain", done);
        wake = undefined;
        resolve();
      };
      wake = done;
      sink.once("drain", done);
    });
  const pause = (ms: number): Promise<void> =>
    new Promise((resolve) => {
      wake = resolve;
      timer = setTimeout(resolve, ms);
    });

  const pump = async (): Promise<void> => {
    while (!stopped) {
      call = open(next);
      if (call) {
        try {
          for await (const d of call as AsyncIterable<StdinData>) {
            if (stopped) return;
            if (d.seq !== next) continue; // a resend of what the job has, or a gap the reopen fills
            backoff.reset();
            if (d.data.byteLength > 0 && !sink.write(d.data)) await drained();
            next = d.seq + 1;
            if (d.eof) {
              stopped = true;
              call.cancel();
              sink.end();
              return;
            }
          }
        } catch (err) {
          if (stopped) return;
          const code = (err as Partial<ServiceError>).code;
          if (typeof code === "number" && FINAL.includes(code)) {
            log.info({ code, err: (err as Error).message }, "the controller serves no more stdin for this run");
            return stop();
          }
          log.warn({ err: (err as Error).message, nextSeq: next }, "job stdin stream broke; reopening");
        }
      }
      if (!stopped) await pause(backoff.next());
    }
  };
  const done = pump().catch((err: unknown) => {
    log.warn({ err }, "job stdin feed failed");
    stop();
  });
  return { stop, done };
}
