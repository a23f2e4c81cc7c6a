/**
 * `hodei run -i`: this terminal's stdin, sent to the run (ControlService.
 * WriteStdin) as numbered chunks until EOF. A chunk is kept until the
 * controller acknowledges it as stored; if the stream breaks (a controller
 * restart) a new one resends what is unacknowledged, and the controller drops
 * what it already has. At most WINDOW bytes are unacknowledged: past that,
 * reading stdin pauses, so a fast producer and a slow job cost no memory.
 *
 * The run ending first is no failure (the job did not want all of it, as with
 * `yes | head -1`): the feed stops quietly. Refusals the user must hear about
 * (stdin over the controller's limit, an unknown run) reject `done`.
 */
import type { ClientDuplexStream, ServiceError } from "@grpc/grpc-js";
import type { Readable } from "node:stream";
import type { StdinAck, StdinChunk } from "../proto/gen/hodei/v1/control.js";
import type { ControlClient } from "./client.js";
import { ControllerError, ControllerUnreachableError } from "./errors.js";

/** Data per message: well under the controller's 1 MiB per chunk. */
const CHUNK_BYTES = 256 * 1024;
/** Unacknowledged bytes before reading stdin pauses. */
const WINDOW = 8 * 1024 * 1024;

export interface StdinSender {
  /** Resolves once EOF is stored, or when stopped or the run no longer takes stdin; rejects on a refusal. */
  readonly done: Promise<void>;
  /** Stop sending and reading stdin (the run has ended, or hodei is leaving). */
  stop(): void;
}

export function sendStdin(client: ControlClient, runId: string, input: Readable): StdinSender {
  const unacked: StdinChunk[] = [];
  let unackedBytes = 0;
  let seq = 0;
  let call: ClientDuplexStream<StdinChunk, StdinAck> | undefined;
  let stopped = false;
  let failures = 0;
  let retry: NodeJS.Timeout | undefined;
  let settle: { resolve: () => void; reject: (err: unknown) => void } | undefined;
  const done = new Promise<void>((resolve, reject) => (settle = { resolve, reject }));

  const finish = (err?: unknown): void => {
    if (stopped) return;
    stopped = true;
    clearTimeout(retry);
    call?.cancel();
    input.destroy();
    if (err) settle?.reject(err);
    else settle?.resolve();
  };

  const push = (c: StdinChunk): void => {
    unacked.push(c);
    unackedBytes += c.data.byteLength;
    call?.write(c);
    if (unackedBytes > WINDOW) input.pause();
  };

  const open = (): void => {
    if (stopped) return;
    const c = (call = client.openStdin());
    c.on("data", (ack: StdinAck) => {
      failures = 0;
      while (unacked.length > 0 && unacked[0]!.seq < ack.nextSeq) {
        const gone = unacked.shift()!;
        unackedBytes -= gone.data.byteLength;
        if (gone.eof) return finish();
      }
      if (unackedBytes <= WINDOW / 2 && input.isPaused() && !input.readableEnded) input.resume();
    });
    c.on("error", (raw: ServiceError) => {
      if (stopped || c !== call) return;
      call = undefined;
      const err = client.translate(raw);
      // The run ended (or its stdin is closed): nothing more is wanted.
      if (err instanceof ControllerError && err.kind === "conflict") return finish();
      const retryable = err instanceof ControllerUnreachableError || (err instanceof ControllerError && err.retryable);
      if (!retryable || ++failures > 50) return finish(err);
      retry = setTimeout(open, Math.min(2000, 100 * 2 ** failures));
    });
    for (const u of unacked) c.write(u);
  };

  input.on("data", (data: Buffer) => {
    for (let off = 0; off < data.length; off += CHUNK_BYTES) push({ runId, seq: seq++, data: data.subarray(off, off + CHUNK_BYTES), eof: false });
  });
  input.once("end", () => push({ runId, seq: seq++, data: Buffer.alloc(0), eof: true }));
  // A stdin that cannot be read (EIO on a terminal that went away): end it where it broke.
  input.once("error", () => stopped || push({ runId, seq: seq++, data: Buffer.alloc(0), eof: true }));
  open();
  return { done, stop: () => finish() };
}
