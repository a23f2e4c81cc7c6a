// What the agent remembers about one run attempt from Assign until the
// controller has everything: the live job, its log, and which reports the
// controller is known to have. Delivery is tracked per stream generation:
// "sent on stream N" means nothing once stream N is gone.
import type { ActiveRun, RunFinished, RunStarted } from "../proto/gen/hodei/v1/agent.js";
import type { RunningJob } from "./executor.js";
import { LogPipe } from "./logpipe.js";

export function runKey(runId: string, attempt: number): string {
  return `${runId}#${attempt}`;
}

export class RunRecord {
  readonly key: string;
  readonly pipe: LogPipe;
  /** Set while the process may still run; cleared when it finished. */
  job?: RunningJob;
  started?: RunStarted;
  finished?: RunFinished;
  /** A LogAck covering a chunk arrived, so the controller has seen RunStarted (it precedes every batch). */
  startedConfirmed = false;
  startedSentOn = -1;
  finishedSentOn = -1;
  /** The controller said the end is recorded (LogAck.end_recorded). */
  endRecorded = false;

  constructor(
    readonly runId: string,
    readonly attempt: number,
    readonly killGraceMs: number,
    pipe?: LogPipe,
  ) {
    this.key = runKey(runId, attempt);
    this.pipe = pipe ?? new LogPipe(runId, attempt);
  }

  get running(): boolean {
    return this.job !== undefined;
  }

  /** Listed in Hello so the controller reconciles instead of failing the run. */
  activeRun(): ActiveRun {
    return { runId: this.runId, attempt: this.attempt, nextSeq: this.pipe.nextSeq, finished: this.finished !== undefined };
  }

  /**
   * The controller has all of it: it said the end is recorded (a LogAck with
   * end_recorded, its answer to RunFinished) and every chunk is acknowledged.
   * A LogAck for the last batch alone is not enough: the controller may have
   * sent it before it read the RunFinished behind it, and died before storing it.
   */
  complete(): boolean {
    return this.finished !== undefined && this.endRecorded && this.pipe.allAcked;
  }
}
