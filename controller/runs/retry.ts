/**
 * Whether an ended attempt is tried again, and after how long. Pure: the
 * caller passes the random number so tests can pin the jitter.
 */
import type { JobSpec } from "../../schemas/load.js";
import { parseDuration } from "../../schemas/durations.js";
import type { FinishReason } from "./transitions.js";

export type RetryCause = "failure" | "timeout" | "infrastructure";

/** Defaults, as GitHub Actions' and Buildkite's automatic retries: a short first wait, capped. */
export const DEFAULT_BACKOFF_MS = 10_000;
export const DEFAULT_MAX_BACKOFF_MS = 10 * 60_000;

/** The retry cause an outcome counts as; a cancel and a success are never retried. */
export function retryCause(reason: FinishReason, exitCode: number | null | undefined): RetryCause | undefined {
  switch (reason) {
    case "exited":
      return exitCode === 0 ? undefined : "failure";
    case "signaled":
    case "spawn_failed":
      return "failure";
    case "timeout":
      return "timeout";
    // checkout: nothing of the job ran; a git server down, a network error or a
    // commit not yet replicated are the platform's trouble, retried as
    // `infrastructure` (a bad token or a deleted commit fails every retry alike).
    case "infrastructure":
    case "checkout":
      return "infrastructure";
    case "cancelled":
    case "unschedulable":
      return undefined;
  }
}

import type { RetryDecision } from "../store/attempts.js";

/**
 * `retriesUsed` counts retries already spent. Backoff doubles per retry from
 * `backoff`, capped at `maxBackoff`, with "equal jitter" (half fixed, half
 * random) so many runs failing together do not come back together.
 */
export function decideRetry(
  retries: JobSpec["retries"] | undefined,
  retriesUsed: number,
  reason: FinishReason,
  exitCode: number | null | undefined,
  random: number,
): RetryDecision {
  const cause = retryCause(reason, exitCode);
  if (!retries || !cause || retriesUsed >= retries.limit) return { retry: false, delayMs: 0 };
  const on = retries.on ?? ["failure", "timeout", "infrastructure"];
  if (!on.includes(cause)) return { retry: false, delayMs: 0 };
  const base = retries.backoff !== undefined ? parseDuration(retries.backoff) : DEFAULT_BACKOFF_MS;
  const cap = retries.maxBackoff !== undefined ? parseDuration(retries.maxBackoff) : Math.max(DEFAULT_MAX_BACKOFF_MS, base);
  const exp = Math.min(cap, base * 2 ** Math.min(retriesUsed, 30));
  return { retry: true, delayMs: Math.round(exp / 2 + (exp / 2) * Math.min(Math.max(random, 0), 1)) };
}
