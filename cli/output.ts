/**
 * Writing to stdout and stderr as a pipeline expects. When the reader goes
 * away (`hodei run | head -1`), a write fails with EPIPE: we stop writing,
 * print nothing more, and `outputClosed` resolves so a command following a
 * log can stop and exit. Before the process exits, flushOutput waits until
 * every byte already written has left (a pipe can hold only 64 KiB).
 */
import type { Writable } from "node:stream";
import { LogStream } from "../proto/gen/hodei/v1/common.js";
import type { LogEntry } from "../proto/gen/hodei/v1/control.js";

let closed = false;
let onClosed: () => void = () => {};
/** Resolves once stdout or stderr has been closed by its reader (EPIPE and the like). */
export const outputClosed: Promise<void> = new Promise((resolve) => (onClosed = resolve));

export const isOutputClosed = (): boolean => closed;

function markClosed(): void {
  if (closed) return;
  closed = true;
  onClosed();
}

// Without a listener an EPIPE would be thrown as an uncaught exception.
for (const s of [process.stdout, process.stderr]) s.on("error", markClosed);

/** Writes bytes and waits when the destination is full, so a 50 MB log never piles up in memory. */
export function writeBytes(out: Writable, data: Uint8Array): Promise<void> | void {
  if (closed || out.destroyed) return markClosed();
  if (!out.write(data)) {
    return new Promise((resolve) => {
      const done = (): void => {
        out.off("drain", done);
        out.off("error", done);
        out.off("close", done);
        resolve();
      };
      out.once("drain", done);
      out.once("error", done);
      out.once("close", done);
    });
  }
}

/** A job's stdout goes to our stdout, its stderr and agent notes to our stderr, byte for byte. */
export function writeChunk(e: LogEntry): Promise<void> | void {
  return writeBytes(e.stream === LogStream.LOG_STREAM_STDOUT ? process.stdout : process.stderr, e.data);
}

/** Resolves once everything written to `s` so far has been handed to the OS, or `s` has failed. */
function flushed(s: Writable): Promise<void> {
  if (s.destroyed || s.writableFinished) return Promise.resolve();
  return new Promise((resolve) => {
    s.once("error", () => resolve());
    // Writes complete in order: the callback of an empty write runs after all earlier ones.
    try {
      s.write("", () => resolve());
    } catch {
      resolve();
    }
  });
}

/** Waits for stdout and stderr to drain; bin/run.js calls it before process.exit(). */
export async function flushOutput(): Promise<void> {
  await Promise.all([flushed(process.stdout), flushed(process.stderr)]);
}
