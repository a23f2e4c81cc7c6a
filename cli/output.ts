import type { Writable } from "node:stream";
import { LogStream } from "../proto/gen/hodei/v1/common.js";
import type { LogEntry } from "../proto/gen/hodei/v1/control.js";

/** Writes bytes and waits when the destination is full, so a 50 MB log never piles up in memory. */
export function writeBytes(out: Writable, data: Uint8Array): Promise<void> | void {
  if (!out.write(data)) return new Promise((resolve) => out.once("drain", () => resolve()));
}

/** A job's stdout goes to our stdout, its stderr and agent notes to our stderr, byte for byte. */
export function writeChunk(e: LogEntry): Promise<void> | void {
  return writeBytes(e.stream === LogStream.LOG_STREAM_STDOUT ? process.stdout : process.stderr, e.data);
}
