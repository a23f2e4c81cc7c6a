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

/** How long a project's queue count is trusted (while well under the limit). */
const QUEUE_RECOUNT_MS = 1000;

export class SubmitLimiter {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();
  /** Per project: the last queue count read, when, and how many submits this controller let through since. */
  private readonly queued = new Map<string, { count: number; at: number; since: number }>();

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

  /**
   * Throws RESOURCE_EXHAUSTED when `project` already has the most queued runs
   * allowed. The count is read from the database at least once a second per
   * project, and on every submit once this controller's estimate (the last
   * count plus the submits it let through since) is within 10% of the limit:
   * a busy project does not pay a count of up to `max` queue rows on every
   * submit, and the limit still holds, up to what other controllers add within
   * that second and that 10% (the per-token rate bounds that too).
   */
  async checkQueue(db: Db, project: string): Promise<void> {
    const max = this.limits.maxQueuedPerProject;
    if (max <= 0) return;
    const t = this.now();
    const seen = this.queued.get(project);
    if (seen && t - seen.at < QUEUE_RECOUNT_MS && seen.count + seen.since < max * 0.9) {
      seen.since++;
      return;
    }
    // Reads at most max + 1 rows of the queue index, whatever the queue's length.
    const r = await sql<{ n: string }>`select count(*) as n from (select 1 from runs where state = 'queued' and project = ${project} limit ${max}) q`.execute(db);
    const count = Number(r.rows[0]?.n ?? 0);
    if (this.queued.size >= MAX_BUCKETS) this.queued.clear();
    this.queued.set(project, { count, at: t, since: 1 });
    if (count >= max) {
      throw limited(`project ${project} already has ${max} queued runs, the most allowed; retry when some have started. The controller's --max-queued-per-project sets the limit`);
    }
  }

  private forgetFull(t: number): void {
    const burst = this.limits.ratePerSec * 2;
    for (const [k, b] of this.buckets) if (b.tokens + ((t - b.at) / 1000) * this.limits.ratePerSec >= burst) this.buckets.delete(k);
  }
}
