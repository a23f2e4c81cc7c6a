// The disk spool: framed records in segment files, read back in order from
// any sequence, deleted segment by segment as acknowledgements arrive; and a
// LogPipe that spills to it when the agent's log memory is over its limit.
import { existsSync, mkdtempSync, readdirSync, rmSync, truncateSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { LogBudget } from "../../../agent/budget.js";
import { SpoolError } from "../../../agent/errors.js";
import { LogPipe, MAX_CHUNK_BYTES } from "../../../agent/logpipe.js";
import { RECORD_HEADER_BYTES, SpoolDir, type NumberedChunk } from "../../../agent/spool.js";
import { LogStream, type LogChunk } from "../../../proto/gen/hodei/v1/common.js";

const { LOG_STREAM_STDOUT: OUT, LOG_STREAM_STDERR: ERR, LOG_STREAM_SYSTEM: SYS } = LogStream;

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "hodei-spool-test-"));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

/** Deterministic bytes: chunk `seq` of `size` bytes. */
function data(seq: number, size: number): Buffer {
  const b = Buffer.alloc(size);
  for (let i = 0; i < size; i++) b[i] = (seq * 31 + i) % 251;
  return b;
}
const rec = (seq: number, size = 100, stream = OUT): NumberedChunk => ({ seq, chunk: { stream, data: data(seq, size), tsMs: 1_700_000_000_000 + seq } });

/** Everything a pipe sends until it has nothing more, as one buffer per stream and the list of sequences. */
function drain(pipe: LogPipe): { chunks: LogChunk[]; seqs: number[] } {
  const chunks: LogChunk[] = [];
  const seqs: number[] = [];
  for (let b = pipe.nextBatch(); b; b = pipe.nextBatch()) {
    b.chunks.forEach((c, i) => {
      chunks.push(c);
      seqs.push(b.firstSeq + i);
    });
  }
  return { chunks, seqs };
}

describe("Spool", () => {
  it("writes framed records and reads them back exactly, in order, with stream and timestamp", () => {
    let bytes = 0;
    const spool = new SpoolDir(dir, 1 << 20).open("run-1", (d) => (bytes += d));
    const records = [rec(0, 10, OUT), rec(1, 0, ERR), rec(2, 65536, SYS), rec(5, 7, OUT)];
    spool.append(records);
    expect(bytes).toBe(records.reduce((n, r) => n + RECORD_HEADER_BYTES + r.chunk.data.length, 0));
    expect(spool.bytes).toBe(bytes);
    expect(readdirSync(dir)).toEqual(["run-1.0.log"]);
    const got = spool.read(0, 100, 1 << 20);
    expect(got.map((r) => r.seq)).toEqual([0, 1, 2, 5]);
    got.forEach((r, i) => {
      expect(r.chunk.stream).toBe(records[i]!.chunk.stream);
      expect(r.chunk.tsMs).toBe(records[i]!.chunk.tsMs);
      expect(r.chunk.data.equals(records[i]!.chunk.data)).toBe(true);
    });
  });

  it("reads from any sequence (a rewind), stops before `until` and at maxBytes, but always returns one", () => {
    const spool = new SpoolDir(dir, 1 << 20).open("r", () => {});
    spool.append(Array.from({ length: 50 }, (_, i) => rec(i, 10_000)));
    expect(spool.read(0, 50, 25_000).map((r) => r.seq)).toEqual([0, 1]);
    expect(spool.read(2, 50, 25_000).map((r) => r.seq)).toEqual([2, 3]); // on from the cursor
    expect(spool.read(37, 40, 1 << 20).map((r) => r.seq)).toEqual([37, 38, 39]);
    expect(spool.read(1, 50, 5).map((r) => r.seq)).toEqual([1]); // back again, and at least one
    expect(spool.read(1, 50, 5, false)).toEqual([]);
    expect(spool.read(50, 60, 1 << 20)).toEqual([]);
  });

  it("rolls over to new segments and deletes each once everything in it is acknowledged", () => {
    let bytes = 0;
    const spool = new SpoolDir(dir, 64 * 1024).open("r", (d) => (bytes += d));
    for (let seq = 0; seq < 40; seq++) spool.append([rec(seq, 10_000)]);
    const files = readdirSync(dir).sort();
    expect(files.length).toBeGreaterThan(4);
    const perSegment = Math.ceil((64 * 1024) / (10_000 + RECORD_HEADER_BYTES));
    spool.dropBelow(perSegment); // exactly the first segment
    expect(readdirSync(dir)).not.toContain("r.0.log");
    expect(readdirSync(dir)).toContain("r.1.log");
    expect(spool.read(0, 40, 1 << 20)[0]!.seq).toBe(perSegment);
    spool.dropBelow(40);
    expect(readdirSync(dir)).toEqual([]);
    expect(bytes).toBe(0);
    spool.append([rec(40)]); // and starts a new file when more comes
    expect(readdirSync(dir)).toEqual([`r.${files.length}.log`]);
    spool.destroy();
    expect(readdirSync(dir)).toEqual([]);
  });

  it("finds a record far into a big segment through its sparse index", () => {
    const spool = new SpoolDir(dir, 1 << 30).open("r", () => {});
    for (let seq = 0; seq < 20_000; seq += 1000) spool.append(Array.from({ length: 1000 }, (_, i) => rec(seq + i, 300)));
    const got = spool.read(17_777, 17_780, 1 << 20);
    expect(got.map((r) => r.seq)).toEqual([17_777, 17_778, 17_779]);
    expect(got[0]!.chunk.data.equals(data(17_777, 300))).toBe(true);
  });

  it("throws SpoolError for a damaged or truncated file", () => {
    const spool = new SpoolDir(dir, 1 << 20).open("r", () => {});
    spool.append([rec(0), rec(1)]);
    truncateSync(join(dir, "r.0.log"), 50);
    expect(() => spool.read(0, 2, 1 << 20)).toThrow(SpoolError);
    const other = new SpoolDir(dir, 1 << 20).open("s", () => {});
    other.append([rec(0)]);
    writeFileSync(join(dir, "s.0.log"), Buffer.alloc(200, 0xff));
    expect(() => other.read(0, 1, 1 << 20)).toThrow(/damaged record/);
  });

  it("throws SpoolError when the directory cannot be created", () => {
    writeFileSync(join(dir, "file"), "");
    const spool = new SpoolDir(join(dir, "file", "spool"), 1 << 20).open("r", () => {});
    expect(() => spool.append([rec(0)])).toThrow(SpoolError);
  });
});

describe("LogPipe with a spool", () => {
  const pipeWith = (budget: LogBudget, spoolDir = dir) => new LogPipe("r", 1, { budget, spools: new SpoolDir(spoolDir, 64 * 1024), spoolName: "r-1" });

  it("keeps chunks in memory below the limit and spills to disk above it, sending all in order", () => {
    const budget = new LogBudget(100_000, 1 << 30);
    const pipe = pipeWith(budget);
    const expected: Buffer[] = [];
    for (let i = 0; i < 40; i++) {
      const d = data(i, 10_000);
      expected.push(d);
      pipe.push(i % 3 === 0 ? ERR : OUT, d, i * 2_000); // 2 s apart: never merged
    }
    expect(budget.memory).toBeLessThanOrEqual(100_000 + 10_000);
    expect(budget.spool).toBeGreaterThan(250_000);
    expect(pipe.spoolFiles.length).toBeGreaterThan(0);
    const { chunks, seqs } = drain(pipe);
    expect(seqs).toEqual(Array.from({ length: 40 }, (_, i) => i));
    expect(Buffer.concat(chunks.map((c) => c.data)).equals(Buffer.concat(expected))).toBe(true);
    expect(chunks.map((c) => c.stream)).toEqual(expected.map((_, i) => (i % 3 === 0 ? ERR : OUT)));
    expect(chunks.map((c) => c.tsMs)).toEqual(expected.map((_, i) => i * 2_000));
  });

  it("interleaves memory and disk (acks free memory between spills) and resends it all after a rewind", () => {
    const budget = new LogBudget(40_000, 1 << 30);
    const pipe = pipeWith(budget);
    const sent: Buffer[] = [];
    for (let round = 0; round < 6; round++) {
      for (let i = 0; i < 8; i++) {
        const d = data(round * 8 + i, 9_000);
        sent.push(d);
        pipe.push(OUT, d, (round * 8 + i) * 2_000);
      }
      // The controller acknowledges part of what it got: memory frees, the next round starts in memory again.
      const first = drain(pipe);
      if (first.seqs.length > 0) pipe.ack(first.seqs[Math.floor(first.seqs.length / 2)]!);
    }
    pipe.close();
    pipe.rewind();
    const { chunks, seqs } = drain(pipe);
    expect(seqs[0]).toBe(pipe.ackedSeq);
    expect(seqs).toEqual(Array.from({ length: 48 - pipe.ackedSeq }, (_, i) => pipe.ackedSeq + i));
    expect(Buffer.concat(chunks.map((c) => c.data)).equals(Buffer.concat(sent.slice(pipe.ackedSeq)))).toBe(true);
    pipe.ack(48);
    expect(pipe.allAcked).toBe(true);
    expect(readdirSync(dir)).toEqual([]); // fully acknowledged: no spool file left
    expect(budget.memory).toBe(0);
    expect(budget.spool).toBe(0);
  });

  it("spills a flood while the stream is down, coalescing what it can, and memory stays bounded", () => {
    const budget = new LogBudget(256 * 1024, 1 << 30);
    const pipe = pipeWith(budget);
    let peak = 0;
    for (let i = 0; i < 2_000; i++) {
      pipe.push(OUT, data(i, 1_000), 1_000 + i);
      peak = Math.max(peak, budget.memory);
    }
    expect(peak).toBeLessThanOrEqual(256 * 1024 + MAX_CHUNK_BYTES);
    const { chunks } = drain(pipe);
    expect(chunks.length).toBeLessThan(100); // 2,000 writes, merged into ~64 KiB chunks
    expect(Buffer.concat(chunks.map((c) => c.data)).length).toBe(2_000_000);
  });

  it("keeps chunks in memory when the spool cannot be written, and pauses once memory is full too", () => {
    writeFileSync(join(dir, "blocker"), "");
    const budget = new LogBudget(50_000, 1 << 30);
    const events: [boolean, string][] = [];
    budget.subscribe((paused, why) => events.push([paused, why]));
    const pipe = pipeWith(budget, join(dir, "blocker", "spool")); // a file where the directory should be
    for (let i = 0; i < 10; i++) pipe.push(OUT, data(i, 10_000), i * 2_000);
    expect(budget.spoolWritable).toBe(false);
    expect(budget.paused).toBe(true);
    expect(events).toEqual([[true, "the log spool cannot be written"]]);
    const { chunks } = drain(pipe);
    expect(chunks).toHaveLength(10); // nothing lost
    pipe.ack(10);
    expect(budget.paused).toBe(false);
  });

  it("replaces chunks it cannot read back with a system line each, keeping the sequence whole", () => {
    const budget = new LogBudget(0, 1 << 30);
    const pipe = pipeWith(budget);
    for (let i = 0; i < 3; i++) pipe.push(OUT, data(i, 100), i * 2_000);
    expect(pipe.spooledBytes).toBeGreaterThan(0);
    for (const f of readdirSync(dir)) truncateSync(join(dir, f), 0);
    const { chunks, seqs } = drain(pipe);
    expect(seqs).toEqual([0, 1, 2]);
    expect(chunks.map((c) => c.stream)).toEqual([SYS, SYS, SYS]);
    expect(chunks[1]!.data.toString()).toBe("hodei: log chunk 1 lost: the agent's spool could not be read\n");
  });

  it("discard() deletes the run's spool files", () => {
    const pipe = pipeWith(new LogBudget(0, 1 << 30));
    pipe.push(OUT, data(0, 100), 0);
    pipe.push(OUT, data(1, 100), 5_000);
    expect(readdirSync(dir).length).toBe(1);
    pipe.discard();
    expect(existsSync(join(dir, "r-1.0.log"))).toBe(false);
  });
});

describe("LogBudget", () => {
  it("spills above the memory limit until memory is back below 3/4 of it", () => {
    const budget = new LogBudget(100, 1_000);
    budget.addMemory(101);
    expect(budget.spill).toBe(true);
    budget.addMemory(-20);
    expect(budget.spill).toBe(true);
    budget.addMemory(-6);
    expect(budget.spill).toBe(false);
  });

  it("pauses only when memory is over the limit and the spool is full; resumes below 3/4 of the cap", () => {
    const budget = new LogBudget(100, 1_000);
    const events: [boolean, string][] = [];
    budget.subscribe((paused, why) => events.push([paused, why]));
    budget.addSpool(1_000);
    expect(budget.paused).toBe(false); // memory has room
    budget.addMemory(150);
    expect(budget.paused).toBe(true);
    budget.addSpool(-200);
    expect(budget.paused).toBe(true);
    budget.addSpool(-60);
    expect(budget.paused).toBe(false);
    expect(events).toEqual([
      [true, "the log spool is full"],
      [false, "the log spool has room again"],
    ]);
  });

  it("with the spool off (cap 0) pauses above the memory limit and resumes below half", () => {
    const budget = new LogBudget(100, 0);
    budget.addMemory(101);
    expect(budget.spoolWritable).toBe(false);
    expect(budget.paused).toBe(true);
    budget.addMemory(-30);
    expect(budget.paused).toBe(true);
    budget.addMemory(-21);
    expect(budget.paused).toBe(false);
  });
});
