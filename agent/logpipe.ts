// One run attempt's log: bytes in, numbered LogBatches out, kept until acked.
//
//   push()  → pending   (not yet numbered: adjacent small chunks of one stream
//                        may still be merged; order is never changed)
//   nextBatch() numbers pending chunks and sends from `sent` up to ~1 MiB
//   ack(n)  drops everything below n;  rewind() resends from the last ack
//
// A chunk is numbered only when a batch is cut, so while the stream is
// backpressured or down, chunks pile up in `pending` and coalesce: a flood
// becomes few large chunks and batches, a lone line goes out alone at once.
import type { LogBatch } from "../proto/gen/hodei/v1/agent.js";
import type { LogChunk, LogStream } from "../proto/gen/hodei/v1/common.js";

/** Data per LogBatch: far below gRPC's 4 MiB message limit, big enough to amortise per-message cost. */
export const MAX_BATCH_BYTES = 1 << 20;
/** Largest chunk: one pipe read is at most 64 KiB, so merging stops about there. */
export const MAX_CHUNK_BYTES = 64 * 1024;
/** A merged chunk carries its first part's timestamp; keep that within a second of the truth. */
const COALESCE_WINDOW_MS = 1000;

interface Pending {
  stream: LogStream;
  parts: Buffer[];
  size: number;
  tsMs: number;
}

export class LogPipe {
  private pending: Pending[] = [];
  /** numbered[i] has sequence `acked + i`; sent and unsent alike. */
  private numbered: LogChunk[] = [];
  private acked = 0;
  private sent = 0;
  private next = 0;
  private held = 0;
  private isClosed = false;

  constructor(
    readonly runId: string,
    readonly attempt: number,
    /** Told of every change in bytes held (the agent-wide LogBudget). */
    private readonly onBytes: (delta: number) => void = () => {},
  ) {}

  push(stream: LogStream, data: Buffer, tsMs = Date.now()): void {
    if (this.isClosed) throw new Error(`log of ${this.runId}#${this.attempt} is closed`);
    for (let off = 0; off < data.length; off += MAX_CHUNK_BYTES) {
      const part = data.subarray(off, off + MAX_CHUNK_BYTES);
      const last = this.pending.at(-1);
      if (last && last.stream === stream && last.size + part.length <= MAX_CHUNK_BYTES && tsMs - last.tsMs <= COALESCE_WINDOW_MS) {
        last.parts.push(part);
        last.size += part.length;
      } else {
        this.pending.push({ stream, parts: [part], size: part.length, tsMs });
      }
      this.held += part.length;
      this.onBytes(part.length);
    }
  }

  /** No more output: number what is pending. Returns the total chunk count. */
  close(): number {
    this.numberPending();
    this.isClosed = true;
    return this.next;
  }

  /** The next batch to send on the current stream, or undefined when all is sent. */
  nextBatch(maxBytes = MAX_BATCH_BYTES): LogBatch | undefined {
    this.numberPending();
    const from = this.sent - this.acked;
    if (from >= this.numbered.length) return undefined;
    const chunks: LogChunk[] = [];
    let bytes = 0;
    for (let i = from; i < this.numbered.length; i++) {
      const c = this.numbered[i]!;
      if (chunks.length > 0 && bytes + c.data.length > maxBytes) break;
      chunks.push(c);
      bytes += c.data.length;
    }
    const batch = { runId: this.runId, attempt: this.attempt, firstSeq: this.sent, chunks };
    this.sent += chunks.length;
    return batch;
  }

  /** The controller stored every chunk below nextSeq. */
  ack(nextSeq: number): void {
    const upTo = Math.min(nextSeq, this.next);
    if (upTo <= this.acked) return;
    let freed = 0;
    for (const c of this.numbered.splice(0, upTo - this.acked)) freed += c.data.length;
    this.acked = upTo;
    this.sent = Math.max(this.sent, upTo);
    this.held -= freed;
    this.onBytes(-freed);
  }

  /** A new stream: everything unacknowledged must be sent again. */
  rewind(): void {
    this.sent = this.acked;
  }

  /** Drop everything held and give its bytes back to the budget (the run is forgotten). */
  discard(): void {
    this.onBytes(-this.held);
    this.held = 0;
    this.pending = [];
    this.numbered = [];
  }

  get closed(): boolean {
    return this.isClosed;
  }
  /** Sequence the next new chunk gets (chunks numbered so far). */
  get nextSeq(): number {
    return this.next;
  }
  get ackedSeq(): number {
    return this.acked;
  }
  get unackedBytes(): number {
    return this.held;
  }
  get allSent(): boolean {
    return this.pending.length === 0 && this.sent === this.next;
  }
  get allAcked(): boolean {
    return this.pending.length === 0 && this.acked === this.next;
  }

  private numberPending(): void {
    for (const p of this.pending) {
      const data = p.parts.length === 1 ? p.parts[0]! : Buffer.concat(p.parts, p.size);
      this.numbered.push({ stream: p.stream, data, tsMs: p.tsMs });
      this.next++;
    }
    this.pending = [];
  }
}
