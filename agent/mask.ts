// Masking before a byte leaves the agent: every output chunk of a run goes
// through its RunMasker on its way to the log pipe. stdout and stderr each
// have their own streaming state (a value split across two writes of one
// stream is caught) over one set of values: the run's ExecSpec.mask_values
// and what the job registers with `::add-mask::VALUE` on either stream.
// Hodei's own lines (LOG_STREAM_SYSTEM) are masked message by message.
import { MIN_MASK_BYTES, MaskSet, StreamMasker } from "../mask/index.js";
import { LogStream } from "../proto/gen/hodei/v1/common.js";

/**
 * How long held bytes wait for more output: a write that ends with what may
 * be the start of a value is held until the next write decides, or until no
 * output came for this long.
 * Long enough for a job's `printf half; sleep 0.2; printf rest`, short
 * enough for a prompt or a progress line; lines ending in a newline never
 * wait (no form starts with one).
 */
export const MASK_HOLD_MS = 500;

export type Emit = (stream: LogStream, data: Buffer) => void;

export class RunMasker {
  private readonly set = new MaskSet();
  private readonly streams = new Map<LogStream, StreamMasker>();
  private timer?: NodeJS.Timeout;

  constructor(
    values: readonly string[],
    private readonly emit: Emit,
    private readonly holdMs = MASK_HOLD_MS,
  ) {
    let short = 0;
    for (const v of values) if (this.set.add(v) === "short") short++;
    // Never the value itself: only that there is one, and why it shows.
    if (short > 0) this.system(`hodei: warning: ${short} of the run's values to mask ${short === 1 ? "is" : "are"} shorter than ${MIN_MASK_BYTES} bytes and not masked\n`);
  }

  /** Number of values masked (given and registered). */
  get size(): number {
    return this.set.size;
  }

  write(stream: LogStream, data: Buffer): void {
    if (stream === LogStream.LOG_STREAM_SYSTEM) {
      const m = new StreamMasker(this.set);
      return this.out(stream, Buffer.concat([m.write(data), m.end()]));
    }
    const m = this.masker(stream);
    this.out(stream, m.write(data));
    // The delay counts from the last write: what is held leaves once no more
    // bytes came for holdMs (a timer left from an earlier, resolved hold must
    // not cut a new one short).
    clearTimeout(this.timer);
    this.timer = undefined;
    if ([...this.streams.values()].some((s) => s.holding)) this.timer = setTimeout(() => this.flush(), this.holdMs).unref();
  }

  /** The job's output has ended: everything held goes out, masked. */
  close(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    for (const [stream, m] of this.streams) this.out(stream, m.end());
  }

  private flush(): void {
    this.timer = undefined;
    for (const [stream, m] of this.streams) this.out(stream, m.flush());
  }

  private masker(stream: LogStream): StreamMasker {
    let m = this.streams.get(stream);
    if (!m) {
      const onShort = () => this.system(`hodei: warning: a value given with ::add-mask:: is shorter than ${MIN_MASK_BYTES} bytes and not masked\n`);
      m = new StreamMasker(this.set, { commands: true, onShort });
      this.streams.set(stream, m);
    }
    return m;
  }

  private system(text: string): void {
    this.emit(LogStream.LOG_STREAM_SYSTEM, Buffer.from(text));
  }

  private out(stream: LogStream, data: Buffer): void {
    if (data.length > 0) this.emit(stream, data);
  }
}
