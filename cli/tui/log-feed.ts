/**
 * Feeds one attempt's log into a LogBuffer: StreamLogs from byte 0 (sequence
 * 0), following live, reopened from the next sequence after the controller
 * goes away. It ends at the attempt's end (or the run's), or, for a look at
 * the beginning of a log too long to hold, once `stopAfterLines` are held.
 */
import { status, type ClientReadableStream, type ServiceError } from "@grpc/grpc-js";
import type { LogEvent } from "../../proto/gen/hodei/v1/control.js";
import type { ControlClient } from "../client.js";
import type { LogBuffer } from "./log-buffer.js";

export class LogFeed {
  private next = 0;
  private stream?: ClientReadableStream<LogEvent>;
  private timer?: NodeJS.Timeout;
  private stopped = false;
  private failures = 0;
  private lines = 0;
  /** The attempt's log is complete (it ended, or the run did). */
  ended = false;
  error = "";

  constructor(
    private readonly client: ControlClient,
    readonly runId: string,
    readonly attempt: number,
    readonly buffer: LogBuffer,
    private readonly opts: { follow: boolean; stopAfterLines?: number; onChange?: () => void },
  ) {}

  start(): void {
    const s = this.client.openLogs({ runId: this.runId, attempt: this.attempt, fromSeq: this.next, follow: this.opts.follow });
    this.stream = s;
    s.on("data", (ev: LogEvent) => {
      if (this.stream !== s) return;
      this.failures = 0;
      this.error = "";
      const e = ev.event;
      if (e?.$case === "chunk") {
        if (e.value.attempt !== this.attempt || e.value.seq < this.next) return;
        const stopAt = this.opts.stopAfterLines;
        if (stopAt) {
          // Only as many lines as are wanted, even from one large chunk.
          const data = upToLines(e.value.data, stopAt - this.lines);
          this.lines += countLines(data);
          this.buffer.write(data, e.value.tsMs);
          if (this.lines >= stopAt) return this.finish();
        } else this.buffer.write(e.value.data, e.value.tsMs);
        this.next = e.value.seq + 1;
      } else if (e?.$case === "attemptEnd" || e?.$case === "end") {
        this.finish();
      }
    });
    s.on("end", () => {
      if (this.stream === s && !this.opts.follow) this.finish();
    });
    s.on("error", (err: ServiceError) => {
      if (this.stream !== s || this.stopped) return;
      this.stream = undefined;
      if (err.code === status.NOT_FOUND || err.code === status.PERMISSION_DENIED || err.code === status.INVALID_ARGUMENT) {
        this.error = (err.details || err.message).slice(0, 200);
        this.finish();
        return;
      }
      this.error = "reconnecting…";
      this.opts.onChange?.();
      this.timer = setTimeout(() => this.start(), Math.min(2000, 100 * 2 ** Math.min(this.failures++, 5)));
    });
  }

  private finish(): void {
    this.ended = true;
    this.stop();
    this.opts.onChange?.();
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    const s = this.stream;
    this.stream = undefined;
    s?.cancel();
  }
}

function countLines(data: Uint8Array): number {
  let n = 0;
  for (const b of data) if (b === 10) n++;
  return n;
}

/** The bytes up to and including the `n`th newline (all of them if fewer). */
function upToLines(data: Uint8Array, n: number): Uint8Array {
  if (n <= 0) return data.subarray(0, 0);
  for (let i = 0, seen = 0; i < data.length; i++) if (data[i] === 10 && ++seen === n) return data.subarray(0, i + 1);
  return data;
}
