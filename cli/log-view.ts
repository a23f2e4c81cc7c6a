/**
 * What `hodei logs` does to a run's log on the way out: which stream
 * (--stream), from when (--since), only the last lines (--tail), and a
 * timestamp at the start of each line (--timestamps). The log's bytes are
 * never changed otherwise; without these flags they pass through as stored.
 */
import { LogStream } from "../proto/gen/hodei/v1/common.js";
import type { LogEntry } from "../proto/gen/hodei/v1/control.js";

/** A piece of a run's log: a chunk as stored, or (with --tail) one line. */
export type Piece = Pick<LogEntry, "seq" | "stream" | "data" | "tsMs" | "attempt">;

export type StreamName = "stdout" | "stderr";

export const streamName = (s: LogStream): "stdout" | "stderr" | "system" =>
  s === LogStream.LOG_STREAM_STDOUT ? "stdout" : s === LogStream.LOG_STREAM_SYSTEM ? "system" : "stderr";

/** --stream stderr is what `hodei logs` writes to stderr: the job's stderr and the agent's notes about the run. */
export function wanted(p: Piece, opts: { stream?: StreamName; sinceMs?: number }): boolean {
  if (opts.stream && (opts.stream === "stdout") !== (p.stream === LogStream.LOG_STREAM_STDOUT)) return false;
  return opts.sinceMs === undefined || p.tsMs >= opts.sinceMs;
}

const NL = 0x0a;

/** The last `n` lines of what is pushed, line by line per stream (stdout and stderr lines do not mix). */
export class TailBuffer {
  private readonly lines: Piece[] = [];
  private readonly partial = new Map<LogStream, { parts: Uint8Array[]; first: Piece }>();

  constructor(private readonly n: number) {}

  push(p: Piece): void {
    let start = 0;
    for (let i = p.data.indexOf(NL); i !== -1; i = p.data.indexOf(NL, start)) {
      this.complete(p, p.data.subarray(start, i + 1));
      start = i + 1;
    }
    if (start < p.data.length) {
      const rest = p.data.subarray(start);
      const open = this.partial.get(p.stream);
      if (open) open.parts.push(rest);
      else this.partial.set(p.stream, { parts: [rest], first: p });
    }
  }

  /** The last n lines, a last line without its newline included. */
  end(): Piece[] {
    for (const [stream, open] of [...this.partial].sort((a, b) => a[1].first.seq - b[1].first.seq)) {
      this.partial.delete(stream);
      this.add({ ...open.first, data: Buffer.concat(open.parts) });
    }
    return this.lines;
  }

  private complete(p: Piece, segment: Buffer): void {
    const open = this.partial.get(p.stream);
    if (!open) return this.add({ ...p, data: segment });
    this.partial.delete(p.stream);
    this.add({ ...open.first, data: Buffer.concat([...open.parts, segment]) });
  }

  private add(line: Piece): void {
    if (this.n === 0) return;
    this.lines.push(line);
    if (this.lines.length > this.n) this.lines.shift();
  }
}

/** Puts `2026-01-10T12:00:00.123Z ` before every line, with the time of the piece the line starts in. */
export class Stamper {
  private readonly atLineStart = new Map<LogStream, boolean>();

  stamp(p: Piece): Buffer {
    const stamp = Buffer.from(`${new Date(Number(p.tsMs)).toISOString()} `);
    const out: Uint8Array[] = [];
    let start = 0;
    let lineStart = this.atLineStart.get(p.stream) ?? true;
    while (start < p.data.length) {
      if (lineStart) out.push(stamp);
      const i = p.data.indexOf(NL, start);
      const end = i === -1 ? p.data.length : i + 1;
      out.push(p.data.subarray(start, end));
      lineStart = i !== -1;
      start = end;
    }
    this.atLineStart.set(p.stream, lineStart);
    return Buffer.concat(out);
  }
}
