/**
 * PostgresBus.forwardLog: log appends reach other processes after the commit,
 * one NOTIFY in flight per run, later ones folded into one carrying the newest
 * sequence. `notify` is the real seam the store passes (a pool query); here it
 * is a function the test completes by hand, so no database is needed to see
 * the coalescing.
 */
import { describe, expect, it } from "vitest";
import { PostgresBus } from "../../../controller/bus/postgres.js";
import { decode } from "../../../controller/bus/wire.js";

function bus() {
  const sent: { payload: string; done: () => void; fail: (e: Error) => void }[] = [];
  const b = new PostgresBus({
    connectionString: "postgres://unused@127.0.0.1:1/none",
    notify: (_channel, payload) => new Promise<void>((resolve, reject) => void sent.push({ payload, done: resolve, fail: reject })),
  });
  const seqs = () => sent.map((s) => { const d = decode(s.payload)!.event; return d.type === "log:appended" ? `${d.runId}:${d.nextSeq}` : d.type; });
  return { b, sent, seqs };
}
const tick = () => new Promise((r) => setImmediate(r));
const log = (runId: string, nextSeq: number) => ({ type: "log:appended" as const, runId, attempt: 1, nextSeq });

describe("PostgresBus.forwardLog", () => {
  it("sends one NOTIFY per run at a time and folds the rest into one with the newest sequence", async () => {
    const { b, sent, seqs } = bus();
    b.forwardLog(log("7", 1));
    for (let n = 2; n <= 5; n++) b.forwardLog(log("7", n));
    b.forwardLog(log("8", 1)); // another run is not held up
    expect(seqs()).toEqual(["7:1", "8:1"]);
    sent[0]!.done();
    await tick();
    expect(seqs()).toEqual(["7:1", "8:1", "7:5"]);
    sent[2]!.done();
    await tick();
    expect(seqs()).toHaveLength(3); // nothing left waiting
    b.forwardLog(log("7", 6)); // idle again: sent at once
    expect(seqs()).toEqual(["7:1", "8:1", "7:5", "7:6"]);
    await b.close();
  });

  it("a failed NOTIFY does not stop the next one", async () => {
    const { b, sent, seqs } = bus();
    b.forwardLog(log("1", 1));
    b.forwardLog(log("1", 2));
    sent[0]!.fail(new Error("database down"));
    await tick();
    expect(seqs()).toEqual(["1:1", "1:2"]);
    await b.close();
  });
});
