import { describe, expect, it } from "vitest";
import { LogBudget } from "../../../agent/budget.js";
import { LogPipe, MAX_BATCH_BYTES, MAX_CHUNK_BYTES, MAX_INFLIGHT_BATCHES } from "../../../agent/logpipe.js";
import { LogStream } from "../../../proto/gen/hodei/v1/common.js";

const { LOG_STREAM_STDOUT: OUT, LOG_STREAM_STDERR: ERR } = LogStream;
const b = (s: string) => Buffer.from(s);

describe("LogPipe", () => {
  it("numbers chunks from 0 across stdout and stderr in arrival order", () => {
    const pipe = new LogPipe("r", 1);
    pipe.push(OUT, b("a"), 1);
    const first = pipe.nextBatch()!;
    expect(first).toMatchObject({ runId: "r", attempt: 1, firstSeq: 0 });
    expect(first.chunks.map((c) => c.data.toString())).toEqual(["a"]);
    pipe.push(ERR, b("b"), 2);
    pipe.push(OUT, b("c"), 3);
    const second = pipe.nextBatch()!;
    expect(second.firstSeq).toBe(1);
    expect(second.chunks.map((c) => [c.stream, c.data.toString()])).toEqual([[ERR, "b"], [OUT, "c"]]);
    expect(pipe.nextBatch()).toBeUndefined();
    expect(pipe.allSent).toBe(true);
    expect(pipe.close()).toBe(3);
  });

  it("coalesces adjacent small chunks of one stream while they wait, never across streams", () => {
    const pipe = new LogPipe("r", 1);
    pipe.push(OUT, b("1\n"), 100);
    pipe.push(OUT, b("2\n"), 101);
    pipe.push(ERR, b("e\n"), 102);
    pipe.push(OUT, b("3\n"), 103);
    pipe.push(OUT, b("4\n"), 104);
    const batch = pipe.nextBatch()!;
    expect(batch.chunks.map((c) => [c.stream, c.data.toString(), c.tsMs])).toEqual([
      [OUT, "1\n2\n", 100],
      [ERR, "e\n", 102],
      [OUT, "3\n4\n", 103],
    ]);
  });

  it("does not merge chunks more than a second apart (their timestamps would lie)", () => {
    const pipe = new LogPipe("r", 1);
    pipe.push(OUT, b("early"), 1_000);
    pipe.push(OUT, b("late"), 2_500);
    expect(pipe.nextBatch()!.chunks).toHaveLength(2);
  });

  it("splits big data into chunks of at most 64 KiB and batches of at most 1 MiB, in order", () => {
    const pipe = new LogPipe("r", 1);
    const data = Buffer.alloc(3 * MAX_BATCH_BYTES + 123);
    for (let i = 0; i < data.length; i++) data[i] = i % 251;
    pipe.push(OUT, data, 1);
    const batches = [];
    for (let batch = pipe.nextBatch(); batch; batch = pipe.nextBatch()) batches.push(batch);
    expect(batches.length).toBe(4);
    for (const batch of batches) {
      expect(batch.chunks.reduce((n, c) => n + c.data.length, 0)).toBeLessThanOrEqual(MAX_BATCH_BYTES);
      for (const c of batch.chunks) expect(c.data.length).toBeLessThanOrEqual(MAX_CHUNK_BYTES);
    }
    expect(Buffer.concat(batches.flatMap((x) => x.chunks.map((c) => c.data))).equals(data)).toBe(true);
    expect(batches.map((x) => x.firstSeq)).toEqual([0, 16, 32, 48]);
  });

  it("keeps chunks until acked, and resends from the acked sequence after rewind", () => {
    const pipe = new LogPipe("r", 1);
    for (const s of ["a", "b"]) {
      pipe.push(OUT, b(s), 1);
      pipe.nextBatch();
    }
    pipe.push(OUT, b("c"), 1);
    expect(pipe.nextBatch()).toBeUndefined(); // two batches await their ack: "c" waits
    expect(pipe.memoryBytes).toBe(3);
    pipe.ack(2);
    expect(pipe.ackedSeq).toBe(2);
    expect(pipe.memoryBytes).toBe(1);
    expect(pipe.nextBatch()).toMatchObject({ firstSeq: 2 });
    expect(pipe.nextBatch()).toBeUndefined();
    pipe.rewind();
    const resent = pipe.nextBatch()!;
    expect(resent.firstSeq).toBe(2);
    expect(resent.chunks.map((c) => c.data.toString())).toEqual(["c"]);
    pipe.ack(1); // stale ack: ignored
    expect(pipe.ackedSeq).toBe(2);
    pipe.ack(99); // beyond what exists: clamped
    expect(pipe.ackedSeq).toBe(3);
    expect(pipe.allAcked).toBe(true);
  });

  it("paces a trickle by its acks: small output waits while two batches are unacknowledged, then goes as one chunk", () => {
    const pipe = new LogPipe("r", 1);
    const sent: string[][] = [];
    const send = (): void => {
      for (let batch = pipe.nextBatch(); batch; batch = pipe.nextBatch()) sent.push(batch.chunks.map((c) => c.data.toString()));
    };
    // 500 lines while nothing is acknowledged: the first two go alone at once, the rest wait and merge.
    for (let i = 0; i < 500; i++) {
      pipe.push(OUT, b(`${i}\n`), 1_000 + i);
      send();
    }
    expect(sent).toEqual([["0\n"], ["1\n"]]);
    expect(pipe.inflightBatches).toBe(MAX_INFLIGHT_BATCHES);
    expect(pipe.nextSeq).toBe(2); // the waiting lines are not numbered yet: still one growing chunk
    pipe.ack(1);
    send();
    expect(sent).toHaveLength(3);
    expect(sent[2]).toEqual([Array.from({ length: 498 }, (_, i) => `${i + 2}\n`).join("")]);
    // Nothing was lost or reordered, and 500 lines cost three batches.
    expect(sent.flat().join("")).toBe(Array.from({ length: 500 }, (_, i) => `${i}\n`).join(""));
  });

  it("a flood, numbered chunks and the end are not held back by the ack window", () => {
    const pipe = new LogPipe("r", 1);
    pipe.push(OUT, b("a"), 1);
    pipe.nextBatch();
    pipe.push(OUT, b("b"), 1);
    pipe.nextBatch();
    pipe.push(OUT, b("c"), 1);
    expect(pipe.nextBatch()).toBeUndefined();
    pipe.push(OUT, Buffer.alloc(MAX_CHUNK_BYTES), 1); // a chunk's worth waits: it goes
    expect(pipe.nextBatch()!.chunks.map((c) => c.data.length)).toEqual([1, MAX_CHUNK_BYTES]);
    pipe.push(ERR, b("last"), 1);
    expect(pipe.nextBatch()).toBeUndefined();
    pipe.close(); // the job ended: its last output goes at once, so RunFinished can follow
    expect(pipe.nextBatch()!.chunks.map((c) => c.data.toString())).toEqual(["last"]);
    expect(pipe.allSent).toBe(true);
  });

  it("an ack that covers less than a batch (a refused gap) still frees a slot, and a new stream starts with none in flight", () => {
    const pipe = new LogPipe("r", 1);
    for (const s of ["a", "b"]) {
      pipe.push(OUT, b(s), 1);
      pipe.nextBatch();
    }
    pipe.push(OUT, b("c"), 1);
    pipe.ack(0);
    expect(pipe.nextBatch()).toMatchObject({ firstSeq: 2 });
    pipe.push(OUT, b("d"), 1);
    expect(pipe.nextBatch()).toBeUndefined();
    pipe.rewind();
    expect(pipe.inflightBatches).toBe(0);
    expect(pipe.nextBatch()).toMatchObject({ firstSeq: 0 });
  });

  it("an ack can skip chunks never sent on this stream", () => {
    const pipe = new LogPipe("r", 1);
    pipe.push(OUT, b("a"), 1);
    pipe.push(ERR, b("b"), 1);
    pipe.close();
    pipe.ack(1);
    expect(pipe.nextBatch()).toMatchObject({ firstSeq: 1 });
  });

  it("without a spool, the budget pauses above the memory limit and resumes below half", () => {
    const budget = new LogBudget(100, 0);
    const events: boolean[] = [];
    budget.subscribe((paused) => events.push(paused));
    const pipe = new LogPipe("r", 1, { budget });
    pipe.push(OUT, Buffer.alloc(60), 1);
    expect(budget.paused).toBe(false);
    pipe.push(ERR, Buffer.alloc(60), 1);
    expect(budget.paused).toBe(true);
    pipe.nextBatch();
    pipe.ack(1); // 60 left: above half
    expect(budget.paused).toBe(true);
    pipe.ack(2);
    expect(budget.paused).toBe(false);
    expect(budget.memory).toBe(0);
    expect(events).toEqual([true, false]);
  });

  it("refuses output after close", () => {
    const pipe = new LogPipe("r", 1);
    pipe.close();
    expect(() => pipe.push(OUT, b("x"))).toThrow(/closed/);
  });
});
