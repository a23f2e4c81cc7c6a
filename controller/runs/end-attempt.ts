/**
 * Ending an attempt with the job's retry policy: the use case over the
 * store's finishAttempt, which records the end and moves the run under a row
 * lock but leaves the decision to retry to this module (controller/runs/retry.ts).
 */
import type { JobDocument } from "../../schemas/load.js";
import { finishAttempt, type AttemptEnded, type AttemptOutcome } from "../store/attempts.js";
import type { Writer } from "../store/runs.js";
import { decideRetry, retryCause } from "./retry.js";

export async function endAttempt(s: Writer, runId: string, attempt: number, o: AttemptOutcome, random = Math.random()): Promise<AttemptEnded | undefined> {
  return finishAttempt(s, runId, attempt, o, {
    mayRetry: retryCause(o.reason, o.exitCode) !== undefined,
    // A cancel we asked for is never retried, whatever the outcome looked like.
    decide: (run) =>
      run.cancel_requested ? { retry: false, delayMs: 0 } : decideRetry((run.job as Partial<JobDocument> | null)?.spec?.retries, run.retries, o.reason, o.exitCode, random),
  });
}
