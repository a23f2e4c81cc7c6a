// The outbox's protocol order and resend rules, against an in-memory sink.
import { pino } from "pino";
import { describe, expect, it } from "vitest";
import { LogPipe } from "../../../agent/logpipe.js";
import { Outbox, type Sink } from "../../../agent/outbox.js";
import type { AgentMessage } from "../../../proto/gen/hodei/v1/agent.js";
import { FinishReason, LogStream } from "../../../proto/gen/hodei/v1/common.js";

class MemorySink implements Sink {
  ready = true;
  generation = 1;
  sent: NonNullable<AgentMessage["msg"]>[] = [];
  write(m: AgentMessage): boolean {
    this.sent.push(m.msg!);
    return this.ready;
  }
  kinds(): string[] {
    return this.sent.map((m) => m.$case);
  }
}

const result = { reason: FinishReason.FINISH_REASON_EXITED, exitCode: 0, signal: "", message: "", finishedAtMs: 2 };

function setup() {
  const sink = new MemorySink();
  const outbox = new Outbox(sink, (runId, attempt) => new LogPipe(runId, attempt), () => {}, pino({ level: "silent" }));
  const run = outbox.add("r", 1, 1000);
  return { sink, outbox, run };
}

describe("Outbox", () => {
  it("sends RunStarted, the logs, then RunFinished, only once all logs are out", () => {
    const { sink, outbox, run } = setup();
    outbox.started(run, { runId: "r", attempt: 1, pid: 42, startedAtMs: 1 });
    sink.ready = false; // backpressured: nothing goes
    outbox.output(run, LogStream.LOG_STREAM_STDOUT, Buffer.from("x"));
    outbox.finished(run, result);
    outbox.flush();
    expect(sink.sent).toEqual([]);
    sink.ready = true;
    outbox.flush();
    expect(sink.kinds()).toEqual(["runStarted", "logBatch", "runFinished"]);
    const fin = sink.sent[2]!;
    expect(fin.$case === "runFinished" && fin.value).toMatchObject({ runId: "r", attempt: 1, logChunks: 1, exitCode: 0 });
  });

  it("after a reconnect resends unconfirmed reports and unacked logs, and forgets the run on the final ack", () => {
    const { sink, outbox, run } = setup();
    outbox.started(run, { runId: "r", attempt: 1, pid: 42, startedAtMs: 1 });
    outbox.output(run, LogStream.LOG_STREAM_STDOUT, Buffer.from("x"));
    outbox.flush();
    outbox.finished(run, result);
    outbox.flush();
    expect(sink.kinds()).toEqual(["runStarted", "logBatch", "runFinished"]);

    sink.generation = 2;
    sink.sent = [];
    expect(outbox.activeRuns()).toEqual([{ runId: "r", attempt: 1, nextSeq: 1, finished: true }]);
    outbox.reconnected();
    expect(sink.kinds()).toEqual(["runStarted", "logBatch", "runFinished"]);

    outbox.ack({ runId: "r", attempt: 1, nextSeq: 1, endRecorded: true });
    expect(outbox.size).toBe(0);
  });

  it("keeps a finished run when the last batch is acknowledged but its end is not recorded yet", () => {
    // The controller acked the batch before reading the RunFinished behind it, then died:
    // forgetting the run here would leave it running in the database with no one to finish it.
    const { outbox, run } = setup();
    outbox.output(run, LogStream.LOG_STREAM_STDOUT, Buffer.from("x"));
    outbox.flush();
    outbox.finished(run, result);
    outbox.flush();
    outbox.ack({ runId: "r", attempt: 1, nextSeq: 1, endRecorded: false });
    expect(outbox.size).toBe(1);
    expect(outbox.activeRuns()).toEqual([{ runId: "r", attempt: 1, nextSeq: 1, finished: true }]);
    outbox.ack({ runId: "r", attempt: 1, nextSeq: 1, endRecorded: true });
    expect(outbox.size).toBe(0);
  });

  it("an ack before RunFinished confirms RunStarted and does not forget a running run", () => {
    const { sink, outbox, run } = setup();
    outbox.started(run, { runId: "r", attempt: 1, pid: 42, startedAtMs: 1 });
    outbox.output(run, LogStream.LOG_STREAM_STDOUT, Buffer.from("x"));
    outbox.flush();
    outbox.ack({ runId: "r", attempt: 1, nextSeq: 1, endRecorded: false });
    expect(outbox.size).toBe(1);
    sink.generation = 2;
    sink.sent = [];
    outbox.reconnected();
    expect(sink.sent).toEqual([]); // nothing unconfirmed, nothing unacked
  });

  it("an ack of 0 (the controller's answer to Hello) does not count as having seen RunStarted", () => {
    const { sink, outbox, run } = setup();
    outbox.ack({ runId: "r", attempt: 1, nextSeq: 0, endRecorded: false }); // while the workspace is still being prepared
    outbox.started(run, { runId: "r", attempt: 1, pid: 42, startedAtMs: 1 });
    outbox.flush();
    expect(sink.kinds()).toEqual(["runStarted"]);
  });

  it("keeps a finished run whose RunFinished went out on an older stream", () => {
    const { sink, outbox, run } = setup();
    outbox.finished(run, result);
    outbox.flush();
    sink.generation = 2; // stream broke; no reconnect flush yet
    outbox.ack({ runId: "r", attempt: 1, nextSeq: 0, endRecorded: false });
    expect(outbox.size).toBe(1);
  });

  it("sends a trickle of lines in a bounded number of batches: output waits for acks, not one batch per line", () => {
    const { sink, outbox, run } = setup();
    let acks = 0;
    const batches = (): number => sink.sent.filter((m) => m.$case === "logBatch").length;
    // 1000 lines, one per turn of the event loop (as a job writing every 2 ms
    // is read), with the controller storing one batch per 10 lines (a store
    // slower than the lines). Each ack lets one batch go, so batches are
    // bounded by acks + the window (+ the last at the end), whatever the line count.
    for (let i = 0; i < 1000; i++) {
      outbox.output(run, LogStream.LOG_STREAM_STDOUT, Buffer.from(`${i}\n`));
      outbox.flush();
      if (i % 10 === 9 && acks < batches()) {
        // The oldest batch not yet acknowledged is stored: ack it, as the controller does, one LogAck per batch.
        const m = sink.sent.filter((x) => x.$case === "logBatch")[acks]!;
        if (m.$case === "logBatch") outbox.ack({ runId: "r", attempt: 1, nextSeq: m.value.firstSeq + m.value.chunks.length, endRecorded: false });
        acks++;
      }
    }
    outbox.finished(run, result);
    outbox.flush();
    expect(batches()).toBeLessThanOrEqual(acks + 2 + 1);
    const text = sink.sent.flatMap((m) => (m.$case === "logBatch" ? m.value.chunks.map((c) => c.data.toString()) : [])).join("");
    expect(text).toBe(Array.from({ length: 1000 }, (_, i) => `${i}\n`).join(""));
    expect(sink.kinds().at(-1)).toBe("runFinished");
  });

  it("takes turns between runs so a flood does not starve a quiet run", () => {
    const { sink, outbox, run } = setup();
    const quiet = outbox.add("q", 1, 1000);
    for (let i = 0; i < 3; i++) outbox.output(run, LogStream.LOG_STREAM_STDOUT, Buffer.alloc(1 << 20));
    outbox.output(quiet, LogStream.LOG_STREAM_STDOUT, Buffer.from("hi"));
    outbox.flush();
    const order = sink.sent.map((m) => (m.$case === "logBatch" ? m.value.runId : m.$case));
    expect(order.indexOf("q")).toBe(1);
  });
});
