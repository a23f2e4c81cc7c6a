/** appendChunks (idempotent by run, attempt, seq; fenced by attempt and state) and readChunks. */
import { createHash, randomBytes } from "node:crypto";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { appendChunks, readChunks, type ChunkInput } from "../../../../controller/store/logs.js";
import { cancelQueued, claimRuns, requeueAssigned } from "../../../../controller/store/runs.js";
import type { RunRow } from "../../../../controller/store/schema.js";
import { DIALECTS, createTestStore, type TestStore } from "../../../helpers/db.js";
import { allBytes, countRows, markFinished, rawRun, reset, startedRun, submit } from "./fixtures.js";

const TS = 1_893_456_000_123; // 2030-01-01T00:00:00.123Z, beyond 2^31 and 2^32

function chunk(seq: number, text: string, stream = 1): ChunkInput {
  return { seq, stream, data: new TextEncoder().encode(text), tsMs: TS + seq };
}

const hex = (data: Uint8Array) => Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString("hex");
const texts = (rows: { data: Uint8Array }[]) => rows.map((r) => Buffer.from(r.data).toString("utf8"));

describe.each(DIALECTS)("logs (%s)", (dialect) => {
  let store: TestStore;
  beforeAll(async () => {
    store = await createTestStore(dialect);
  });
  afterAll(() => store?.dispose());
  beforeEach(() => reset(store.db));

  const running = (): Promise<RunRow> => startedRun(store);
  const chunksOf = async (runId: string) =>
    Number((await store.db.selectFrom("log_chunks").select((eb) => eb.fn.countAll<string>().as("n")).where("run_id", "=", runId).executeTakeFirstOrThrow()).n);

  it("stores chunks, returns the next sequence and advances runs.log_chunks", async () => {
    const run = await running();
    expect(await appendChunks(store, run.id, 1, [chunk(0, "a"), chunk(1, "b", 2), chunk(2, "c", 3)])).toBe(3);
    expect((await rawRun(store.db, run.id))?.log_chunks).toBe("3");
    expect(await appendChunks(store, run.id, 1, [chunk(3, "d")])).toBe(4);
    expect((await rawRun(store.db, run.id))?.log_chunks).toBe("4");

    const rows = await readChunks(store.db, run.id, 1, 0, 100);
    expect(rows.map((r) => ({ ...r, data: Buffer.from(r.data).toString("utf8") }))).toEqual([
      { run_id: run.id, attempt: 1, seq: "0", stream: 1, data: "a", ts_ms: String(TS) },
      { run_id: run.id, attempt: 1, seq: "1", stream: 2, data: "b", ts_ms: String(TS + 1) },
      { run_id: run.id, attempt: 1, seq: "2", stream: 3, data: "c", ts_ms: String(TS + 2) },
      { run_id: run.id, attempt: 1, seq: "3", stream: 1, data: "d", ts_ms: String(TS + 3) },
    ]);
  });

  it("accepts chunks while the run is assigned (output before the start report)", async () => {
    await submit(store, { selector: { only: "assigned" } });
    const [run] = await claimRuns(store, "agent-1", { only: "assigned" }, 1);
    expect(await appendChunks(store, run!.id, 1, [chunk(0, "early")])).toBe(1);
    expect(texts(await readChunks(store.db, run!.id, 1, 0, 10))).toEqual(["early"]);
  });

  it("a resent batch is not stored twice, and the first copy wins", async () => {
    const run = await running();
    const batch = [chunk(0, "zero"), chunk(1, "one"), chunk(2, "two")];
    expect(await appendChunks(store, run.id, 1, batch)).toBe(3);
    expect(await appendChunks(store, run.id, 1, batch)).toBe(3);
    expect(await chunksOf(run.id)).toBe(3);
    // Resent with different bytes (a buggy agent): the stored bytes do not change.
    expect(await appendChunks(store, run.id, 1, [chunk(1, "ONE!"), chunk(2, "TWO!")])).toBe(3);
    // An overlapping batch stores only what is new.
    expect(await appendChunks(store, run.id, 1, [chunk(2, "TWO?"), chunk(3, "three")])).toBe(4);
    // An old batch after newer ones does not move the next sequence back.
    expect(await appendChunks(store, run.id, 1, [chunk(0, "zero")])).toBe(4);
    expect((await rawRun(store.db, run.id))?.log_chunks).toBe("4");
    expect(await chunksOf(run.id)).toBe(4);
    expect(texts(await readChunks(store.db, run.id, 1, 0, 100))).toEqual(["zero", "one", "two", "three"]);
  });

  it("stores every byte value exactly, including NUL, invalid UTF-8 and an empty chunk", async () => {
    const run = await running();
    const bytes = allBytes();
    const reversed = allBytes().reverse();
    const notUtf8 = Uint8Array.from([0xc3, 0x28, 0xff, 0xfe, 0x00, 0x5c, 0x78, 0x30, 0x30]); // includes the text "\x00"
    // A view into a larger buffer: only the viewed bytes may be stored.
    const backing = Uint8Array.from([9, 9, 9, 1, 2, 3, 9, 9]);
    const view = backing.subarray(3, 6);
    const chunks: ChunkInput[] = [
      { seq: 0, stream: 1, data: bytes, tsMs: TS },
      { seq: 1, stream: 2, data: reversed, tsMs: TS },
      { seq: 2, stream: 1, data: notUtf8, tsMs: TS },
      { seq: 3, stream: 1, data: new Uint8Array(0), tsMs: TS },
      { seq: 4, stream: 1, data: view, tsMs: TS },
      { seq: 5, stream: 1, data: Buffer.from("ünïcødé ✓ 🚀", "utf8"), tsMs: TS },
    ];
    expect(await appendChunks(store, run.id, 1, chunks)).toBe(6);
    const rows = await readChunks(store.db, run.id, 1, 0, 100);
    expect(rows.map((r) => hex(r.data))).toEqual(chunks.map((c) => hex(c.data)));
    // The row type promises a Buffer (callers use its methods), on both dialects.
    for (const row of rows) expect(Buffer.isBuffer(row.data)).toBe(true);
    expect(rows[0]!.data).toHaveLength(256);
    expect(rows[4]!.data).toHaveLength(3);
    expect(Buffer.from(rows[5]!.data).toString("utf8")).toBe("ünïcødé ✓ 🚀");
  });

  it("round-trips a 1 MiB chunk byte for byte", async () => {
    const run = await running();
    const big = randomBytes(1024 * 1024);
    expect(await appendChunks(store, run.id, 1, [chunk(0, "before"), { seq: 1, stream: 1, data: big, tsMs: TS }, chunk(2, "after")])).toBe(3);
    const rows = await readChunks(store.db, run.id, 1, 0, 10);
    expect(rows.map((r) => r.data.length)).toEqual([6, 1024 * 1024, 5]);
    const sha = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");
    expect(sha(rows[1]!.data)).toBe(sha(big));
  });

  it("reads from a sequence, at most `limit`, in sequence order whatever the insert order", async () => {
    const run = await running();
    // Stored in three batches, the later sequences first.
    await appendChunks(store, run.id, 1, [chunk(5, "5"), chunk(6, "6"), chunk(7, "7"), chunk(8, "8"), chunk(9, "9"), chunk(10, "10"), chunk(11, "11")]);
    await appendChunks(store, run.id, 1, [chunk(2, "2"), chunk(3, "3"), chunk(4, "4")]);
    await appendChunks(store, run.id, 1, [chunk(0, "0"), chunk(1, "1")]);
    expect(texts(await readChunks(store.db, run.id, 1, 0, 100))).toEqual(["0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11"]);
    expect(texts(await readChunks(store.db, run.id, 1, 3, 4))).toEqual(["3", "4", "5", "6"]);
    // Numeric order: 10 and 11 come after 9 (they would not as text).
    expect(texts(await readChunks(store.db, run.id, 1, 9, 100))).toEqual(["9", "10", "11"]);
    expect(texts(await readChunks(store.db, run.id, 1, 11, 100))).toEqual(["11"]);
    expect(await readChunks(store.db, run.id, 1, 12, 100)).toEqual([]);
    expect(await readChunks(store.db, run.id, 1, 0, 0)).toEqual([]);
    expect(texts(await readChunks(store.db, run.id, 1, 0, 1))).toEqual(["0"]);
  });

  it("keeps runs and attempts apart", async () => {
    const a = await running();
    const b = await running();
    await appendChunks(store, a.id, 1, [chunk(0, "a0"), chunk(1, "a1")]);
    await appendChunks(store, b.id, 1, [chunk(0, "b0")]);
    expect(texts(await readChunks(store.db, a.id, 1, 0, 10))).toEqual(["a0", "a1"]);
    expect(texts(await readChunks(store.db, b.id, 1, 0, 10))).toEqual(["b0"]);
    expect(await readChunks(store.db, a.id, 2, 0, 10)).toEqual([]);
    expect(await readChunks(store.db, "999999", 1, 0, 10)).toEqual([]);
  });

  describe("refuses chunks that are not for the active attempt, and stores nothing", () => {
    it("a finished run", async () => {
      const run = await running();
      await appendChunks(store, run.id, 1, [chunk(0, "kept")]);
      await markFinished(store, run.id, 1, { state: "succeeded", reason: "exited", exitCode: 0, signal: null, message: "", at: new Date() });
      expect(await appendChunks(store, run.id, 1, [chunk(1, "late"), chunk(2, "later")])).toBeUndefined();
      expect(await chunksOf(run.id)).toBe(1);
      expect((await rawRun(store.db, run.id))?.log_chunks).toBe("1");
      // Even a resend of a chunk it already has.
      expect(await appendChunks(store, run.id, 1, [chunk(0, "kept")])).toBeUndefined();
    });

    it("a wrong attempt", async () => {
      const run = await running();
      for (const attempt of [0, 2]) expect(await appendChunks(store, run.id, attempt, [chunk(0, "x")])).toBeUndefined();
      expect(await chunksOf(run.id)).toBe(0);
      expect((await rawRun(store.db, run.id))?.log_chunks).toBe("0");
    });

    it("a queued, requeued or cancelled run", async () => {
      const queued = await submit(store, { selector: { nobody: "1" } });
      const cancelled = await submit(store, { selector: { nobody: "2" } });
      await cancelQueued(store, cancelled.id, "no");
      await submit(store, { selector: { only: "requeue" } });
      const [requeued] = await claimRuns(store, "agent-1", { only: "requeue" }, 1);
      await requeueAssigned(store, requeued!.id, 1);
      for (const run of [queued, cancelled, requeued!]) {
        expect(await appendChunks(store, run.id, 1, [chunk(0, "x")])).toBeUndefined();
      }
      expect(await countRows(store.db, "log_chunks")).toBe(0);
    });

    it("an unknown run", async () => {
      expect(await appendChunks(store, "999999", 1, [chunk(0, "x")])).toBeUndefined();
      expect(await countRows(store.db, "log_chunks")).toBe(0);
    });
  });

  it("an empty batch stores nothing", async () => {
    const run = await running();
    // Documented as undefined ("no longer active") only for fenced-off reports; callers never send
    // an empty batch (reports.ts checks), so only "nothing stored, nothing advanced" is pinned here.
    await appendChunks(store, run.id, 1, []);
    expect(await chunksOf(run.id)).toBe(0);
    expect((await rawRun(store.db, run.id))?.log_chunks).toBe("0");
  });
});

/**
 * readChunks pages by bytes as well as by rows: a page holds at most `limit`
 * chunks and, past its first chunk, at most `maxBytes` of data, so one page of
 * large chunks stays bounded; a chunk larger than `maxBytes` still comes back
 * (alone), so a reader paging from the last sequence it got always progresses.
 */
describe.each(DIALECTS)("logs: readChunks pages by bytes (%s)", (dialect) => {
  const MiB = 1 << 20;
  let store: TestStore;
  beforeAll(async () => {
    store = await createTestStore(dialect);
  });
  afterAll(() => store?.dispose());
  beforeEach(() => reset(store.db));

  const running = (): Promise<RunRow> => startedRun(store);
  /** Chunk `seq` of `size` bytes, each byte telling its chunk apart from its neighbours. */
  const sized = (seq: number, size: number): ChunkInput => ({ seq, stream: 1, data: new Uint8Array(size).fill(seq % 251), tsMs: TS + seq });
  const bytesOf = (rows: { data: Uint8Array }[]) => rows.reduce((n, r) => n + r.data.length, 0);
  /** The page bound: within `maxBytes`, or a single chunk. */
  const expectBounded = (rows: { data: Uint8Array }[], maxBytes: number) => {
    expect(rows.length).toBeGreaterThan(0);
    if (rows.length > 1) expect(bytesOf(rows)).toBeLessThanOrEqual(maxBytes);
  };
  /** Reads the attempt page after page from the sequence after the last one returned. */
  async function readAll(runId: string, limit: number, maxBytes: number): Promise<{ seqs: number[]; datas: Buffer[]; pages: number }> {
    const seqs: number[] = [];
    const datas: Buffer[] = [];
    let pages = 0;
    for (let next = 0; ; ) {
      const rows = await readChunks(store.db, runId, 1, next, limit, maxBytes);
      if (rows.length === 0) return { seqs, datas, pages };
      expectBounded(rows, maxBytes);
      expect(rows.length).toBeLessThanOrEqual(limit);
      pages++;
      expect(pages, "pages (no progress?)").toBeLessThan(1000);
      for (const r of rows) {
        seqs.push(Number(r.seq));
        datas.push(Buffer.from(r.data));
      }
      next = Number(rows[rows.length - 1]!.seq) + 1;
    }
  }

  it("a page of 3 MiB chunks with maxBytes = 4 MiB holds one or two chunks, not five, within the budget", async () => {
    const run = await running();
    for (let seq = 0; seq < 5; seq++) expect(await appendChunks(store, run.id, 1, [sized(seq, 3 * MiB)])).toBe(seq + 1);
    for (const rows of [await readChunks(store.db, run.id, 1, 0, 100, 4 * MiB), await readChunks(store.db, run.id, 1, 0, 100)]) {
      expect(rows.length).toBeGreaterThanOrEqual(1);
      expect(rows.length).toBeLessThanOrEqual(2);
      expectBounded(rows, 4 * MiB);
      expect(rows.map((r) => Number(r.seq))).toEqual(rows.map((_, i) => i));
      expect(rows[0]!.data).toHaveLength(3 * MiB);
    }
    // Room for all five: all five.
    expect(await readChunks(store.db, run.id, 1, 0, 100, 15 * MiB)).toHaveLength(5);
    // The row limit still applies within the byte budget.
    expect(await readChunks(store.db, run.id, 1, 0, 2, 15 * MiB)).toHaveLength(2);
  });

  it("page after page returns every 3 MiB chunk exactly once, in order", async () => {
    const run = await running();
    const chunks = Array.from({ length: 5 }, (_, seq) => sized(seq, 3 * MiB));
    for (const c of chunks) await appendChunks(store, run.id, 1, [c]);
    const { seqs, datas, pages } = await readAll(run.id, 100, 4 * MiB);
    expect(seqs).toEqual([0, 1, 2, 3, 4]);
    expect(pages).toBeGreaterThanOrEqual(3);
    datas.forEach((d, i) => expect(d.equals(Buffer.from(chunks[i]!.data))).toBe(true));
  });

  it("a chunk larger than maxBytes is still returned, alone (a reader always progresses)", async () => {
    const run = await running();
    await appendChunks(store, run.id, 1, [sized(0, 5 * MiB), sized(1, 10), sized(2, 10)]);
    const first = await readChunks(store.db, run.id, 1, 0, 100, 4 * MiB);
    expect(first.map((r) => [Number(r.seq), r.data.length])).toEqual([[0, 5 * MiB]]);
    expect(Buffer.from(first[0]!.data).equals(Buffer.from(sized(0, 5 * MiB).data))).toBe(true);
    expect((await readChunks(store.db, run.id, 1, 1, 100, 4 * MiB)).map((r) => Number(r.seq))).toEqual([1, 2]);
    // The same with a tiny budget: every chunk is larger than it, so every page is one chunk.
    expect((await readChunks(store.db, run.id, 1, 1, 100, 1)).map((r) => Number(r.seq))).toEqual([1]);
    expect((await readChunks(store.db, run.id, 1, 0, 100, 0)).map((r) => Number(r.seq))).toEqual([0]);
    const { seqs, pages } = await readAll(run.id, 100, 1);
    expect(seqs).toEqual([0, 1, 2]);
    expect(pages).toBe(3);
  });

  it("with mixed sizes (empty chunks too) and a small budget, pages return every chunk exactly once, in order", async () => {
    const run = await running();
    // Deterministic sizes around the budget: some far below, some equal, some above, some empty.
    const sizes = [0, 0, 700, 300, 1000, 1, 2500, 0, 999, 1001, 40, 40, 40, 0, 3000, 500, 500, 1, 0, 250];
    const chunks = sizes.map((size, seq) => ({ ...sized(seq, size), data: Uint8Array.from({ length: size }, (_, i) => (seq * 31 + i) % 256) }));
    // Stored in batches, out of order.
    await appendChunks(store, run.id, 1, chunks.slice(10));
    await appendChunks(store, run.id, 1, chunks.slice(0, 10));
    for (const [limit, maxBytes] of [[100, 1000], [3, 1000], [100, 1], [100, 2048], [1, 1 << 30], [100, 1 << 30]] as const) {
      const { seqs, datas } = await readAll(run.id, limit, maxBytes);
      expect(seqs, `limit ${limit}, maxBytes ${maxBytes}`).toEqual(sizes.map((_, i) => i));
      datas.forEach((d, i) => expect(hex(d), `chunk ${i}`).toBe(hex(chunks[i]!.data)));
    }
    // A page exactly at the budget includes the chunk that reaches it.
    expect((await readChunks(store.db, run.id, 1, 2, 100, 1000)).map((r) => Number(r.seq))).toEqual([2, 3]);
  });
});
