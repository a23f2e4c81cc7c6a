// One run attempt's log: bytes in, numbered LogBatches out, kept until acked.
//
//   push()  → pending   (not yet numbered: adjacent small chunks of one stream
//                        may still be merged; order is never changed)
//   numbering moves pending chunks to memory, or to the run's spool file when
//   the agent's log memory is over its limit (budget.ts, spool.ts)
//   nextBatch() sends from `sent` up to ~1 MiB, from memory and disk alike
//   ack(n)  drops everything below n;  rewind() resends from the last ack
//
// A chunk is numbered when a batch is cut, so while the stream is
// backpressured or down, chunks pile up in `pending` and coalesce: a flood
// becomes few large chunks and batches, a lone line goes out alone at once.
// A trickle is paced by the acks: while MAX_INFLIGHT_BATCHES batches await
// their LogAck, what waits is small (< MAX_CHUNK_BYTES, nothing numbered) and
// stays in `pending`, growing into one chunk that goes out with the next ack.
// Without this, 500 lines/s became 500 batches/s, each its own store
// transaction and follower message, and a controller that could not keep up
// fell further behind the longer the job ran.
// Once memory is over its limit, every chunk that can no longer grow is
// numbered at once and written to disk, so nothing piles up in memory.
import type { Logger } from "pino";
import type { LogBatch } from "../proto/gen/hodei/v1/agent.js";
import { LogStream, type LogChunk } from "../proto/gen/hodei/v1/common.js";
import { LogBudget } from "./budget.js";
import type { NumberedChunk, Spool, SpoolDir } from "./spool.js";

/** Data per LogBatch: far below gRPC's 4 MiB message limit, big enough to amortise per-message cost. */
export const MAX_BATCH_BYTES = 1 << 20;
/** Largest chunk: one pipe read is at most 64 KiB, so merging stops about there. */
export const MAX_CHUNK_BYTES = 64 * 1024;
/** A merged chunk carries its first part's timestamp; keep that within a second of the truth. */
const COALESCE_WINDOW_MS = 1000;
/**
 * Batches sent and not yet acknowledged, past which small output waits for an
 * ack. Two: the controller has the next batch at hand while it stores one.
 */
export const MAX_INFLIGHT_BATCHES = 2;
/** Unreadable spool records replaced by a system line per nextBatch() (see lost()). */
const MAX_LOST_PER_BATCH = 1024;

interface Pending {
  stream: LogStream;
  parts: Buffer[];
  size: number;
  tsMs: number;
}

/** Where a pipe keeps what the controller has not acknowledged. */
export interface PipeStorage {
  /** Agent-wide accounting: decides memory or disk, and pauses jobs when neither has room. */
  budget: LogBudget;
  /** Absent: memory only (unit tests, or --max-spool 0). */
  spools?: SpoolDir;
  /** Base name of this run's spool files. */
  spoolName?: string;
  log?: Logger;
}

export class LogPipe {
  private pending: Pending[] = [];
  private pendingBytes = 0;
  /** Numbered chunks in memory, by increasing seq. Every seq in [acked, next) is here or in the spool. */
  private mem: NumberedChunk[] = [];
  private memBytes = 0;
  private spool?: Spool;
  private acked = 0;
  private sent = 0;
  private next = 0;
  private isClosed = false;
  /** End sequence (exclusive) of each batch sent on this stream and not yet acknowledged, oldest first. */
  private inflight: number[] = [];
  private readonly budget: LogBudget;

  constructor(
    readonly runId: string,
    readonly attempt: number,
    private readonly storage: PipeStorage = { budget: new LogBudget(Infinity) },
  ) {
    this.budget = storage.budget;
  }

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
      this.pendingBytes += part.length;
      this.budget.addMemory(part.length);
    }
    // Over the memory limit: what can no longer grow goes to disk now, so a
    // stream that is down or stalled does not pile chunks up in memory.
    if (this.budget.spill && this.pending.length > 1) this.numberPending(true);
  }

  /** No more output: number what is pending. Returns the total chunk count. */
  close(): number {
    this.numberPending();
    this.isClosed = true;
    return this.next;
  }

  /**
   * The next batch to send on the current stream, or undefined when all is
   * sent, or when what waits is small and MAX_INFLIGHT_BATCHES batches await
   * their ack (it waits for the next ack, growing meanwhile).
   */
  nextBatch(maxBytes = MAX_BATCH_BYTES): LogBatch | undefined {
    if (this.held) return undefined;
    this.numberPending();
    if (this.sent >= this.next) return undefined;
    const chunks: LogChunk[] = [];
    let bytes = 0;
    let seq = this.sent;
    let i = this.memIndex(seq);
    while (seq < this.next && bytes < maxBytes) {
      const m = this.mem[i];
      if (m?.seq === seq) {
        if (chunks.length > 0 && bytes + m.chunk.data.length > maxBytes) break;
        chunks.push(m.chunk);
        bytes += m.chunk.data.length;
        seq++;
        i++;
        continue;
      }
      // seq is on disk, and so is everything up to the next chunk in memory.
      const got = this.fromSpool(seq, m?.seq ?? this.next, maxBytes - bytes, chunks.length === 0);
      if (got.length === 0) break; // the batch is full
      for (const c of got) {
        chunks.push(c);
        bytes += c.data.length;
      }
      seq += got.length;
    }
    const batch = { runId: this.runId, attempt: this.attempt, firstSeq: this.sent, chunks };
    this.sent = seq;
    this.inflight.push(seq);
    return batch;
  }

  /** The controller stored every chunk below nextSeq. */
  ack(nextSeq: number): void {
    // Every LogAck answers a batch (the controller acks each one, in order, even
    // one it refuses): free the batches it covers, or else the oldest, so an
    // ack that covers less (a refused gap) cannot hold output back for good.
    // An extra ack (after a Hello, RunFinished) only lets a batch go early.
    const before = this.inflight.length;
    this.inflight = this.inflight.filter((end) => end > nextSeq);
    if (this.inflight.length === before) this.inflight.shift();
    const upTo = Math.min(nextSeq, this.next);
    if (upTo <= this.acked) return;
    let k = 0;
    let freed = 0;
    while (k < this.mem.length && this.mem[k]!.seq < upTo) freed += this.mem[k++]!.chunk.data.length;
    this.mem.splice(0, k);
    this.memBytes -= freed;
    this.budget.addMemory(-freed);
    this.spool?.dropBelow(upTo);
    this.acked = upTo;
    this.sent = Math.max(this.sent, upTo);
  }

  /** A new stream: everything unacknowledged must be sent again. */
  rewind(): void {
    this.sent = this.acked;
    this.inflight = [];
  }

  /** Drop everything held, give its bytes back to the budget and delete the spool (the run is forgotten). */
  discard(): void {
    this.budget.addMemory(-(this.pendingBytes + this.memBytes));
    this.pendingBytes = 0;
    this.memBytes = 0;
    this.pending = [];
    this.mem = [];
    this.spool?.destroy();
    this.spool = undefined;
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
  /** Unacknowledged bytes held in memory (pending and numbered). */
  get memoryBytes(): number {
    return this.pendingBytes + this.memBytes;
  }
  /** Bytes in this run's spool files. */
  get spooledBytes(): number {
    return this.spool?.bytes ?? 0;
  }
  get spoolFiles(): string[] {
    return this.spool?.files ?? [];
  }
  /** Batches sent on this stream that await their ack. */
  get inflightBatches(): number {
    return this.inflight.length;
  }
  /**
   * Output waits for an ack: the window is full and all that waits is small
   * and still pending. Numbered chunks (spilled to the spool, or the last ones
   * at close) and anything of a chunk's size go at once, as before: a flood is
   * paced by the stream's flow control, not by round trips.
   */
  private get held(): boolean {
    return this.inflight.length >= MAX_INFLIGHT_BATCHES && this.sent === this.next && this.pendingBytes < MAX_CHUNK_BYTES;
  }
  get allSent(): boolean {
    return this.pending.length === 0 && this.sent === this.next;
  }
  get allAcked(): boolean {
    return this.pending.length === 0 && this.acked === this.next;
  }

  /** Numbers pending chunks (all, or all but the last, which may still grow) into memory or the spool. */
  private numberPending(keepLast = false): void {
    const n = keepLast ? this.pending.length - 1 : this.pending.length;
    if (n <= 0) return;
    const numbered: NumberedChunk[] = [];
    let bytes = 0;
    for (const p of this.pending.splice(0, n)) {
      const data = p.parts.length === 1 ? p.parts[0]! : Buffer.concat(p.parts, p.size);
      numbered.push({ seq: this.next++, chunk: { stream: p.stream, data, tsMs: p.tsMs } });
      bytes += p.size;
    }
    this.pendingBytes -= bytes;
    if (this.budget.spill && this.budget.spoolWritable && this.toSpool(numbered)) {
      this.budget.addMemory(-bytes);
      return;
    }
    for (const c of numbered) this.mem.push(c);
    this.memBytes += bytes;
  }

  private toSpool(records: NumberedChunk[]): boolean {
    const { spools, spoolName, budget, log } = this.storage;
    if (!spools) return false;
    try {
      this.spool ??= spools.open(spoolName ?? `${this.runId}-${this.attempt}`, (d) => budget.addSpool(d));
      this.spool.append(records);
      return true;
    } catch (err) {
      budget.spoolFailed();
      log?.warn({ err, runId: this.runId, attempt: this.attempt }, "cannot write the log spool; keeping these chunks in memory");
      return false;
    }
  }

  /** Chunks from..until-1 from disk, up to `room` bytes (at least one when `first`). */
  private fromSpool(from: number, until: number, room: number, first: boolean): LogChunk[] {
    try {
      const got = this.spool?.read(from, until, room, first) ?? [];
      got.forEach((r, k) => {
        if (r.seq !== from + k) throw new Error(`chunk ${from + k} is missing from the spool`);
      });
      if (first && got.length === 0) throw new Error(`chunk ${from} is missing from the spool`);
      return got.map((r) => r.chunk);
    } catch (err) {
      return this.lost(from, until, err);
    }
  }

  /**
   * The spool cannot give these chunks back (a file was removed, the disk
   * failed). Each is replaced by a system line saying so: the controller
   * needs every sequence number, and the run's log should show the gap.
   */
  private lost(from: number, until: number, err: unknown): LogChunk[] {
    this.storage.log?.error({ err, runId: this.runId, attempt: this.attempt, from, until }, "log chunks lost: the spool cannot be read");
    const chunks: LogChunk[] = [];
    for (let seq = from; seq < Math.min(until, from + MAX_LOST_PER_BATCH); seq++) {
      chunks.push({ stream: LogStream.LOG_STREAM_SYSTEM, data: Buffer.from(`hodei: log chunk ${seq} lost: the agent's spool could not be read\n`), tsMs: Date.now() });
    }
    return chunks;
  }

  /** Index of the first chunk in memory with a sequence ≥ seq (binary search; mem is sorted). */
  private memIndex(seq: number): number {
    let lo = 0;
    let hi = this.mem.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.mem[mid]!.seq < seq) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}
