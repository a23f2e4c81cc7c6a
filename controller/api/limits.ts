/**
 * Limits against abuse on starting runs by hand (SubmitRun, RerunRun,
 * GitOpsService.RunJob; docs/security.md, "Limits"):
 *
 *   - a rate per caller (per API token): a token bucket of `ratePerSec`
 *     tokens a second, holding up to twice that, so a burst of a CI fan-out
 *     passes and a loop does not; over it, RESOURCE_EXHAUSTED, retryable,
 *     saying when to retry and which flag sets the rate;
 *   - queued runs per project: a submit that would queue more than
 *     `maxQueuedPerProject` runs of its project is refused the same way.
 *
 * Pushes and schedules are not limited here: they are bounded by the
 * repository (one run per job and commit or tick).
 */
import { status } from "@grpc/grpc-js";
import { sql } from "kysely";
import type { Db } from "../store/db.js";
import { ApiError } from "./errors.js";

export interface SubmitLimits {
  /** Runs a second per caller; 0: no limit. */
  ratePerSec: number;
  /** Queued runs per project; 0: no limit. */
  maxQueuedPerProject: number;
}

export const DEFAULT_SUBMIT_LIMITS: SubmitLimits = { ratePerSec: 200, maxQueuedPerProject: 10_000 };

/** Callers remembered at most; past it, buckets that are full again are forgotten. */
const MAX_BUCKETS = 10_000;

const limited = (message: string): ApiError => new ApiError("conflict", message, { code: status.RESOURCE_EXHAUSTED, retryable: true });

export class SubmitLimiter {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();

  constructor(
    readonly limits: SubmitLimits,
    private readonly now: () => number = Date.now,
  ) {}

  /** Takes one submit for `caller`, or throws RESOURCE_EXHAUSTED naming the limit and when to retry. */
  take(caller: string): void {
    const rate = this.limits.ratePerSec;
    if (rate <= 0) return;
    const burst = rate * 2;
    const t = this.now();
    const b = this.buckets.get(caller) ?? { tokens: burst, at: t };
    b.tokens = Math.min(burst, b.tokens + ((t - b.at) / 1000) * rate);
    b.at = t;
    if (b.tokens < 1) {
      this.buckets.set(caller, b);
      const retryMs = Math.ceil(((1 - b.tokens) / rate) * 1000);
      throw limited(`rate limited: ${caller} may start ${rate} runs a second (bursts of ${burst}); retry in ${retryMs} ms. The controller's --submit-rate sets the limit`);
    }
    b.tokens -= 1;
    this.buckets.set(caller, b);
    if (this.buckets.size > MAX_BUCKETS) this.forgetFull(t);
  }

  /** Throws RESOURCE_EXHAUSTED when `project` already has the most queued runs allowed. */
  async checkQueue(db: Db, project: string): Promise<void> {
    const max = this.limits.maxQueuedPerProject;
    if (max <= 0) return;
    // Reads at most max + 1 rows of the queue index, whatever the queue's length.
    const r = await sql<{ n: string }>`select count(*) as n from (select 1 from runs where state = 'queued' and project = ${project} limit ${max}) q`.execute(db);
    if (Number(r.rows[0]?.n ?? 0) >= max) {
      throw limited(`project ${project} already has ${max} queued runs, the most allowed; retry when some have started. The controller's --max-queued-per-project sets the limit`);
    }
  }

  private forgetFull(t: number): void {
    const burst = this.limits.ratePerSec * 2;
    for (const [k, b] of this.buckets) if (b.tokens + ((t - b.at) / 1000) * this.limits.ratePerSec >= burst) this.buckets.delete(k);
  }
}
