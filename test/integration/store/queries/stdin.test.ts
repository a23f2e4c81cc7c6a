/**
 * appendStdin (idempotent by run and seq; in order; refused for unknown runs,
 * runs without stdin, ended runs, data after eof and stdin over the limit) and
 * readStdin, on both dialects; with the announcement each stored chunk makes.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { appendStdin, readStdin, type StdinInput } from "../../../../controller/store/stdin.js";
import { cancelQueued } from "../../../../controller/store/runs.js";
import type { HodeiEvent } from "../../../../controller/bus/events.js";
import { DIALECTS, createTestStore, type TestStore } from "../../../helpers/db.js";
import { allBytes, rawRun, reset, startedRun, submit } from "./fixtures.js";

const MAX = 1000;
const chunk = (seq: number, text: string | Uint8Array, eof = false): StdinInput => ({ seq, data: typeof text === "string" ? new TextEncoder().encode(text) : text, eof });
const texts = (rows: { data: Uint8Array }[]) => rows.map((r) => Buffer.from(r.data).toString("utf8"));

describe.each(DIALECTS)("stdin (%s)", (dialect) => {
  let store: TestStore;
  beforeAll(async () => {
    store = await createTestStore(dialect);
  });
  afterAll(() => store?.dispose());
  beforeEach(() => reset(store.db));

  const interactive = () => submit(store, { stdin: true });
  const stored = async (runId: string) => (await store.db.selectFrom("stdin_chunks").selectAll().where("run_id", "=", runId).orderBy("seq").execute()).map((r) => ({ seq: r.seq, data: Buffer.from(r.data).toString("utf8"), eof: r.eof }));

  it("stores chunks in order, keeps the run's next sequence, bytes and eof, and reads them back", async () => {
    const run = await interactive();
    expect(run.stdin).toBe(true);
    expect(await appendStdin(store, run.id, chunk(0, "ab"), MAX)).toEqual({ kind: "stored", nextSeq: 1 });
    expect(await appendStdin(store, run.id, chunk(1, "cde"), MAX)).toEqual({ kind: "stored", nextSeq: 2 });
    expect(await appendStdin(store, run.id, chunk(2, "", true), MAX)).toEqual({ kind: "stored", nextSeq: 3 });
    const row = await rawRun(store.db, run.id);
    expect({ next: row?.stdin_next, bytes: row?.stdin_bytes, eof: row?.stdin_eof }).toEqual({ next: "3", bytes: "5", eof: true });
    const rows = await readStdin(store.db, run.id, 0, 100);
    expect(rows.map((r) => ({ seq: r.seq, data: Buffer.from(r.data).toString("utf8"), eof: r.eof }))).toEqual([
      { seq: "0", data: "ab", eof: false },
      { seq: "1", data: "cde", eof: false },
      { seq: "2", data: "", eof: true },
    ]);
    expect(texts(await readStdin(store.db, run.id, 1, 100))).toEqual(["cde", ""]);
  });

  it("keeps every byte value as it is", async () => {
    const run = await interactive();
    await appendStdin(store, run.id, chunk(0, allBytes()), MAX);
    const [row] = await readStdin(store.db, run.id, 0, 10);
    expect(Buffer.from(row!.data).equals(Buffer.from(allBytes()))).toBe(true);
  });

  it("a resent chunk is not stored twice, the first copy wins, and the answer is the next sequence", async () => {
    const run = await interactive();
    await appendStdin(store, run.id, chunk(0, "zero"), MAX);
    await appendStdin(store, run.id, chunk(1, "one"), MAX);
    expect(await appendStdin(store, run.id, chunk(0, "zero"), MAX)).toEqual({ kind: "stored", nextSeq: 2 });
    expect(await appendStdin(store, run.id, chunk(1, "ONE, changed"), MAX)).toEqual({ kind: "stored", nextSeq: 2 });
    expect(await stored(run.id)).toEqual([{ seq: "0", data: "zero", eof: false }, { seq: "1", data: "one", eof: false }]);
    expect((await rawRun(store.db, run.id))?.stdin_bytes).toBe("7");
  });

  it("the same chunk sent by two writers at once is stored once", async () => {
    const run = await interactive();
    const results = await Promise.all([0, 1, 2, 3].map(() => appendStdin(store, run.id, chunk(0, "once"), MAX)));
    for (const r of results) expect(r).toEqual({ kind: "stored", nextSeq: 1 });
    expect(await stored(run.id)).toEqual([{ seq: "0", data: "once", eof: false }]);
    expect((await rawRun(store.db, run.id))?.stdin_bytes).toBe("4");
  });

  it("refuses a chunk past the next one (a gap), leaving nothing stored", async () => {
    const run = await interactive();
    expect(await appendStdin(store, run.id, chunk(1, "early"), MAX)).toEqual({ kind: "gap", nextSeq: 0 });
    expect(await stored(run.id)).toEqual([]);
  });

  it("refuses data after eof, an unknown run, a run without stdin and a run that has ended; a resend of a stored chunk is still answered", async () => {
    const run = await interactive();
    await appendStdin(store, run.id, chunk(0, "x", true), MAX);
    expect(await appendStdin(store, run.id, chunk(1, "more"), MAX)).toEqual({ kind: "closed" });
    expect(await appendStdin(store, "999999", chunk(0, "x"), MAX)).toEqual({ kind: "not_found" });
    const plain = await submit(store);
    expect(plain.stdin).toBe(false);
    expect(await appendStdin(store, plain.id, chunk(0, "x"), MAX)).toEqual({ kind: "no_stdin" });
    const ended = await interactive();
    await appendStdin(store, ended.id, chunk(0, "before"), MAX);
    await cancelQueued(store, ended.id, "test");
    expect(await appendStdin(store, ended.id, chunk(1, "after"), MAX)).toEqual({ kind: "ended", state: "cancelled" });
    expect(await appendStdin(store, ended.id, chunk(0, "before"), MAX)).toEqual({ kind: "stored", nextSeq: 1 });
    expect(await stored(ended.id)).toEqual([{ seq: "0", data: "before", eof: false }]);
  });

  it("refuses stdin over the limit and stores none of the chunk that would pass it", async () => {
    const run = await interactive();
    expect(await appendStdin(store, run.id, chunk(0, "x".repeat(600)), MAX)).toEqual({ kind: "stored", nextSeq: 1 });
    expect(await appendStdin(store, run.id, chunk(1, "y".repeat(401)), MAX)).toEqual({ kind: "too_large", bytes: 1001 });
    expect(await appendStdin(store, run.id, chunk(1, "y".repeat(400)), MAX)).toEqual({ kind: "stored", nextSeq: 2 });
    expect((await rawRun(store.db, run.id))?.stdin_bytes).toBe("1000");
  });

  it("takes stdin while the run is running, and readStdin pages by chunks and by bytes", async () => {
    await startedRun(store);
    const run = await interactive();
    for (let i = 0; i < 5; i++) await appendStdin(store, run.id, chunk(i, String(i).repeat(100)), MAX);
    expect((await readStdin(store.db, run.id, 0, 2)).map((r) => r.seq)).toEqual(["0", "1"]);
    expect((await readStdin(store.db, run.id, 1, 100, 250)).map((r) => r.seq)).toEqual(["1", "2"]);
    // The first row always comes, whatever the byte budget.
    expect((await readStdin(store.db, run.id, 3, 100, 10)).map((r) => r.seq)).toEqual(["3"]);
  });

  it("announces each stored chunk once (stdin:appended), and nothing for a resend or a refusal", async () => {
    const run = await interactive();
    const heard: HodeiEvent[] = [];
    const off = store.bus.subscribe((ev) => ev.type.startsWith("stdin:") && heard.push(ev));
    try {
      await appendStdin(store, run.id, chunk(0, "a"), MAX);
      await appendStdin(store, run.id, chunk(0, "a"), MAX);
      await appendStdin(store, run.id, chunk(2, "gap"), MAX);
      await appendStdin(store, run.id, chunk(1, "", true), MAX);
    } finally {
      off();
    }
    expect(heard).toEqual([
      { type: "stdin:appended", runId: run.id, nextSeq: 1 },
      { type: "stdin:appended", runId: run.id, nextSeq: 2 },
    ]);
  });
});
