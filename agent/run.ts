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
   * The controller has all of it: RunFinished was written on the current
   * stream, and afterwards a LogAck covered every chunk. (A LogAck the
   * controller sent just before it read RunFinished also passes; the proto has
   * no ack for RunFinished itself, see docs/agent.md.)
   */
  complete(generation: number): boolean {
    return this.finished !== undefined && this.finishedSentOn === generation && this.pipe.allAcked;
  }
}
