/**
 * What a run's commit status on GitHub says: GitHub's state and a one-line
 * description (GitHub keeps at most 140 characters).
 *
 * - queued, assigned → pending "queued"; running → pending "running"
 * - succeeded → success "succeeded in 12s"
 * - failed (the job's own doing) → failure "failed: exit code 2", "failed: killed by SIGKILL", "failed to start: …"
 * - timed_out → failure "timed out after 10m"
 * - cancelled → error "cancelled …": no verdict on the commit, which a
 *   required check still blocks on, as a failure would
 * - infrastructure, unschedulable → error: Hodei, not the commit, failed
 */
import type { RunRow } from "../store/schema.js";
import type { CommitStatusState } from "../store/schema.js";

export const MAX_DESCRIPTION = 140;
export const SKIPPED_DESCRIPTION = "skipped: no matching paths";

export interface StatusText {
  state: CommitStatusState;
  description: string;
}

/** One line, control characters as spaces, at most 140 characters (cut with an ellipsis). */
export function oneLine(s: string): string {
  // eslint-disable-next-line no-control-regex
  const line = s.replace(/[\x00-\x1f\x7f]+/g, " ").replace(/\s+/g, " ").trim();
  const chars = [...line];
  return chars.length <= MAX_DESCRIPTION ? line : `${chars.slice(0, MAX_DESCRIPTION - 1).join("").trimEnd()}…`;
}

/** 12s, 3m 5s, 2h 7m. */
export function shortDuration(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${s % 60 ? ` ${s % 60}s` : ""}`;
  const m = Math.floor(s / 60);
  return `${Math.floor(m / 60)}h${m % 60 ? ` ${m % 60}m` : ""}`;
}

type RunFacts = Pick<RunRow, "state" | "reason" | "exit_code" | "signal" | "message" | "created_at" | "started_at" | "finished_at">;

export function statusText(run: RunFacts): StatusText {
  const took = run.finished_at ? shortDuration(new Date(run.finished_at).getTime() - new Date(run.started_at ?? run.created_at).getTime()) : undefined;
  const msg = run.message?.trim();
  const t = (state: CommitStatusState, description: string): StatusText => ({ state, description: oneLine(description) });
  switch (run.state) {
    case "queued":
    case "assigned":
      return t("pending", "queued");
    case "running":
      return t("pending", "running");
    case "succeeded":
      return t("success", took ? `succeeded in ${took}` : "succeeded");
    case "timed_out":
      return t("failure", took ? `timed out after ${took}` : "timed out");
    case "cancelled":
      return t("error", msg ? `cancelled: ${msg}` : "cancelled");
    case "failed":
      switch (run.reason) {
        case "exited":
          return t("failure", `failed: exit code ${run.exit_code ?? "?"}${took ? ` after ${took}` : ""}`);
        case "signaled":
          return t("failure", `failed: killed by ${run.signal ?? "a signal"}${took ? ` after ${took}` : ""}`);
        case "spawn_failed":
          return t("failure", msg ? `failed to start: ${msg}` : "failed to start");
        case "unschedulable":
          return t("error", msg ? `unschedulable: ${msg}` : "unschedulable: no agent can run it");
        case "infrastructure":
        default:
          return t("error", msg ? `infrastructure failure: ${msg}` : "infrastructure failure");
      }
  }
}
