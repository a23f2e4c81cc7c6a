// One run attempt's log chunks on disk, for when the agent's log memory is
// over its limit (see budget.ts). Append-only segment files
//
//   <work-dir>/spool/<run>-<attempt>.<n>.log
//
// of framed records, in increasing sequence order (with gaps: the chunks that
// stayed in memory):
//
//   seq u64 LE | tsMs i64 LE | stream u8 | length u32 LE | length bytes
//
// A segment is deleted once every record in it is acknowledged, so disk use
// follows what the controller still lacks, not the run's whole output; once
// everything is acknowledged no file is left.
//
// I/O is synchronous on purpose: pipes deliver at most 64 KiB per read, and
// page-cache writes and reads of that size take microseconds; synchronous
// calls keep the order of records trivially right. Writes are positional, so
// a failed (partial) write is simply overwritten by the next one.
import { closeSync, mkdirSync, openSync, readSync, unlinkSync, writevSync } from "node:fs";
import { join } from "node:path";
import type { LogChunk } from "../proto/gen/hodei/v1/common.js";
import { SpoolError } from "./errors.js";

export const RECORD_HEADER_BYTES = 21;
/** Chunks are at most 64 KiB (logpipe.ts); anything far larger is a damaged header. */
const MAX_RECORD_DATA = 1 << 20;
/** One read: a full batch (1 MiB) plus a record straddling its end. */
const READ_BLOCK_BYTES = (1 << 20) + (128 << 10);
/** A sparse index entry per this many bytes: a rewind scans at most this much to find its record. */
const INDEX_EVERY_BYTES = 256 << 10;
/** writev takes at most IOV_MAX (1024) buffers; two per record. */
const RECORDS_PER_WRITE = 256;

export interface NumberedChunk {
  seq: number;
  chunk: LogChunk;
}

interface Segment {
  path: string;
  fd: number;
  bytes: number;
  /** Sequence of the last record written; -1 while empty. */
  lastSeq: number;
  /** (seq, offset) of some records, increasing; the first record is always in it. */
  index: { seq: number; offset: number }[];
}

/** Where reading stopped: the record at `offset` is the first one with a sequence ≥ `seq`. */
interface Cursor {
  seg: Segment;
  offset: number;
  seq: number;
}

/** The agent's spool directory; hands out one Spool per run attempt. */
export class SpoolDir {
  constructor(
    readonly dir: string,
    readonly segmentBytes: number,
  ) {}

  open(name: string, onBytes: (delta: number) => void): Spool {
    return new Spool(this.dir, name, this.segmentBytes, onBytes);
  }
}

export class Spool {
  private segments: Segment[] = [];
  private fileNumber = 0;
  private cursor?: Cursor;
  private total = 0;

  constructor(
    private readonly dir: string,
    private readonly name: string,
    private readonly segmentBytes: number,
    /** Told of every change in bytes on disk (the agent-wide LogBudget). */
    private readonly onBytes: (delta: number) => void,
  ) {}

  /** Bytes in this run's spool files. */
  get bytes(): number {
    return this.total;
  }

  get files(): string[] {
    return this.segments.map((s) => s.path);
  }

  /** Appends chunks whose sequences are above every one written so far. Throws SpoolError; then nothing was recorded. */
  append(records: NumberedChunk[]): void {
    for (let i = 0; i < records.length; i += RECORDS_PER_WRITE) this.appendSome(records.slice(i, i + RECORDS_PER_WRITE));
  }

  /**
   * Records with from ≤ seq < until, in order, up to maxBytes of data (but at
   * least one when `atLeastOne`, so a batch always makes progress). Throws SpoolError.
   */
  read(from: number, until: number, maxBytes: number, atLeastOne = true): NumberedChunk[] {
    const out: NumberedChunk[] = [];
    let bytes = 0;
    let prevSeq = -1;
    let pos = this.locate(from);
    while (pos) {
      const seg = pos.seg;
      if (pos.offset >= seg.bytes) {
        const next = this.segments[this.segments.indexOf(seg) + 1];
        pos = next && { seg: next, offset: 0 };
        continue;
      }
      const block = this.readBlock(seg, pos.offset, Math.min(READ_BLOCK_BYTES, seg.bytes - pos.offset));
      let at = 0;
      while (at + RECORD_HEADER_BYTES <= block.length) {
        const seq = Number(block.readBigUInt64LE(at));
        const tsMs = Number(block.readBigInt64LE(at + 8));
        const stream = block[at + 16]!;
        const size = block.readUInt32LE(at + 17);
        if (size > MAX_RECORD_DATA || stream < 1 || stream > 3 || seq <= prevSeq || seq > seg.lastSeq) {
          throw new SpoolError(`damaged record at offset ${pos.offset + at}`, seg.path);
        }
        if (at + RECORD_HEADER_BYTES + size > block.length) break; // straddles the block's end: next round
        const full = seq >= from && (out.length > 0 || !atLeastOne) && bytes + size > maxBytes;
        if (seq >= until || full) {
          this.cursor = { seg, offset: pos.offset + at, seq: out.length > 0 ? out.at(-1)!.seq + 1 : from };
          return out;
        }
        if (seq >= from) {
          const data = block.subarray(at + RECORD_HEADER_BYTES, at + RECORD_HEADER_BYTES + size);
          out.push({ seq, chunk: { stream, data, tsMs } });
          bytes += size;
        }
        prevSeq = seq;
        at += RECORD_HEADER_BYTES + size;
      }
      if (at === 0) throw new SpoolError(`damaged record at offset ${pos.offset}`, seg.path);
      pos.offset += at;
      this.cursor = { seg, offset: pos.offset, seq: out.length > 0 ? out.at(-1)!.seq + 1 : from };
    }
    return out;
  }

  /** The controller has everything below `seq`: delete the segments that hold nothing else. */
  dropBelow(seq: number): void {
    while (this.segments.length > 0 && this.segments[0]!.lastSeq < seq) this.remove(this.segments.shift()!);
  }

  /** Delete every file (the run is forgotten, or the agent leaves). */
  destroy(): void {
    for (const seg of this.segments) this.remove(seg);
    this.segments = [];
  }

  private appendSome(records: NumberedChunk[]): void {
    let seg = this.segments.at(-1);
    if (!seg || seg.bytes >= this.segmentBytes) seg = this.newSegment();
    const buffers: Buffer[] = [];
    const index: Segment["index"] = [];
    let lastIndexed = seg.index.at(-1)?.offset ?? -INDEX_EVERY_BYTES;
    let size = 0;
    for (const { seq, chunk } of records) {
      const offset = seg.bytes + size;
      if (offset - lastIndexed >= INDEX_EVERY_BYTES) index.push({ seq, offset: (lastIndexed = offset) });
      const header = Buffer.allocUnsafe(RECORD_HEADER_BYTES);
      header.writeBigUInt64LE(BigInt(seq), 0);
      header.writeBigInt64LE(BigInt(Math.trunc(chunk.tsMs)), 8);
      header.writeUInt8(chunk.stream, 16);
      header.writeUInt32LE(chunk.data.length, 17);
      buffers.push(header, chunk.data);
      size += RECORD_HEADER_BYTES + chunk.data.length;
    }
    let written: number;
    try {
      written = writevSync(seg.fd, buffers, seg.bytes);
    } catch (err) {
      throw new SpoolError(`cannot write the log spool: ${(err as Error).message}`, seg.path, { cause: err });
    }
    if (written !== size) throw new SpoolError(`short write to the log spool (${written} of ${size} bytes)`, seg.path);
    seg.bytes += size;
    seg.lastSeq = records.at(-1)!.seq;
    seg.index.push(...index);
    this.total += size;
    this.onBytes(size);
  }

  private newSegment(): Segment {
    const path = join(this.dir, `${this.name}.${this.fileNumber++}.log`);
    let fd: number;
    try {
      mkdirSync(this.dir, { recursive: true, mode: 0o700 });
      // 0600: logs are masked, but they are still the job's output.
      fd = openSync(path, "w+", 0o600);
    } catch (err) {
      throw new SpoolError(`cannot create a log spool file: ${(err as Error).message}`, path, { cause: err });
    }
    const seg: Segment = { path, fd, bytes: 0, lastSeq: -1, index: [] };
    this.segments.push(seg);
    return seg;
  }

  /** The first record with a sequence ≥ from: from the cursor when reading on, else from the sparse index. */
  private locate(from: number): { seg: Segment; offset: number } | undefined {
    const c = this.cursor;
    if (c && c.seq <= from && this.segments.includes(c.seg)) return { seg: c.seg, offset: c.offset };
    const seg = this.segments.find((s) => s.lastSeq >= from);
    if (!seg) return undefined;
    let offset = 0;
    for (const entry of seg.index) {
      if (entry.seq > from) break;
      offset = entry.offset;
    }
    return { seg, offset };
  }

  private readBlock(seg: Segment, offset: number, length: number): Buffer {
    const block = Buffer.allocUnsafe(length);
    let got = 0;
    try {
      while (got < length) {
        const n = readSync(seg.fd, block, got, length - got, offset + got);
        if (n === 0) throw new Error(`unexpected end of file at ${offset + got}`);
        got += n;
      }
    } catch (err) {
      throw new SpoolError(`cannot read the log spool: ${(err as Error).message}`, seg.path, { cause: err });
    }
    return block;
  }

  private remove(seg: Segment): void {
    if (this.cursor?.seg === seg) this.cursor = undefined;
    try {
      closeSync(seg.fd);
    } catch {
      // already closed
    }
    try {
      unlinkSync(seg.path);
    } catch {
      // already gone (someone cleaned the work dir): nothing to free
    }
    this.total -= seg.bytes;
    this.onBytes(-seg.bytes);
  }
}
