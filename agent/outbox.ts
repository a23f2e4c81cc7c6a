// Everything the agent owes the controller, per run, in protocol order:
// RunStarted, then LogBatches, then RunFinished once every chunk is sent.
// After each Welcome it starts over from what the controller is known to have
// (the last LogAck), so a broken stream loses nothing; the controller drops
// duplicates by (run, attempt) and by sequence number.
import type { Logger } from "pino";
import type { ActiveRun, AgentMessage, LogAck, RunStarted } from "../proto/gen/hodei/v1/agent.js";
import type { LogStream } from "../proto/gen/hodei/v1/common.js";
import type { JobResult } from "./executor.js";
import type { LogPipe } from "./logpipe.js";
import { RunRecord, runKey } from "./run.js";

/** Makes a run's log pipe: the agent's gives it the shared budget and the spool; tests use memory only. */
export type PipeFactory = (runId: string, attempt: number) => LogPipe;

/** The part of Connection the outbox uses (tests can drive it with a fake sink). */
export interface Sink {
  readonly ready: boolean;
  readonly generation: number;
  write(message: AgentMessage): boolean;
}

export class Outbox {
  private readonly runs = new Map<string, RunRecord>();
  private scheduled = false;

  constructor(
    private readonly sink: Sink,
    private readonly newPipe: PipeFactory,
    private readonly changed: () => void,
    private readonly log: Logger,
  ) {}

  get size(): number {
    return this.runs.size;
  }
  get(runId: string, attempt: number): RunRecord | undefined {
    return this.runs.get(runKey(runId, attempt));
  }
  records(): RunRecord[] {
    return [...this.runs.values()];
  }
  activeRuns(): ActiveRun[] {
    return this.records().map((r) => r.activeRun());
  }

  add(runId: string, attempt: number, killGraceMs: number): RunRecord {
    const record = new RunRecord(runId, attempt, killGraceMs, this.newPipe(runId, attempt));
    this.runs.set(record.key, record);
    return record;
  }

  started(record: RunRecord, started: RunStarted): void {
    record.started = started;
    this.schedule();
  }

  output(record: RunRecord, stream: LogStream, data: Buffer): void {
    record.pipe.push(stream, data);
    this.schedule();
  }

  finished(record: RunRecord, result: JobResult): void {
    const logChunks = record.pipe.close();
    record.job = undefined;
    record.finished = { runId: record.runId, attempt: record.attempt, ...result, logChunks };
    this.schedule();
    this.changed();
  }

  ack(ack: LogAck): void {
    const record = this.get(ack.runId, ack.attempt);
    if (!record) return this.log.debug({ runId: ack.runId, attempt: ack.attempt }, "LogAck for a run the agent no longer holds");
    record.pipe.ack(ack.nextSeq);
    // A stored chunk proves RunStarted arrived: chunks only ever follow it on a stream.
    // An ack of 0 proves nothing (the controller acks every run it hears of in Hello).
    if (ack.nextSeq > 0) record.startedConfirmed = true;
    if (ack.endRecorded) record.endRecorded = true;
    if (record.complete()) {
      this.runs.delete(record.key);
      record.pipe.discard();
      this.log.debug({ runId: record.runId, attempt: record.attempt }, "run fully delivered; forgotten");
    }
    this.changed();
    this.schedule();
  }

  /** A new stream was welcomed: resend everything not acknowledged. */
  reconnected(): void {
    for (const r of this.runs.values()) r.pipe.rewind();
    this.flush();
  }

  /** Flush on the next turn of the event loop, so output read in one turn travels together. */
  schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      this.flush();
    });
  }

  /** Round-robin, one message per run per round, so a flood cannot starve a quiet run. */
  flush(): void {
    const gen = this.sink.generation;
    for (let progress = true; progress && this.sink.ready; ) {
      progress = false;
      for (const record of this.runs.values()) {
        if (!this.sink.ready) return;
        if (this.sendOne(record, gen)) progress = true;
      }
    }
  }

  private sendOne(r: RunRecord, gen: number): boolean {
    if (r.started && !r.startedConfirmed && r.startedSentOn !== gen) {
      r.startedSentOn = gen;
      this.sink.write({ msg: { $case: "runStarted", value: r.started } });
      return true;
    }
    const batch = r.pipe.nextBatch();
    if (batch) {
      this.sink.write({ msg: { $case: "logBatch", value: batch } });
      return true;
    }
    if (r.finished && r.pipe.allSent && r.finishedSentOn !== gen) {
      r.finishedSentOn = gen;
      this.sink.write({ msg: { $case: "runFinished", value: r.finished } });
      return true;
    }
    return false;
  }
}
