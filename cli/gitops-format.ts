/** How repositories and jobs print, as tables and as --json. */
import type { Job, Repo, RepoSync } from "../proto/gen/hodei/v1/gitops.js";
import { ago, formatDuration, printable, runJson, stateCell, type Cell } from "./format.js";

const iso = (ms: number): string | null => (ms ? new Date(ms).toISOString() : null);

function syncJson(s: RepoSync | undefined): Record<string, unknown> | null {
  if (!s) return null;
  return { startedAt: iso(s.startedAtMs), durationMs: s.durationMs, via: s.via, commit: s.commit || null, error: s.error || null, ok: !s.error };
}

/** Credentials are never part of it: only whether they are set. */
export function repoJson(r: Repo): Record<string, unknown> {
  return {
    name: r.name,
    url: r.url,
    branch: r.branch,
    path: r.path,
    platform: r.platform,
    webhookSecret: r.hasWebhookSecret,
    token: r.hasToken,
    pollIntervalMs: r.pollIntervalMs,
    createdAt: iso(r.createdAtMs),
    headCommit: r.headCommit || null,
    jobs: r.jobs,
    errors: r.errors,
    lastSync: syncJson(r.lastSync),
    recentSyncs: r.recentSyncs.map(syncJson),
    statusErrors: r.statusErrors,
  };
}

export function syncCell(s: RepoSync | undefined): string {
  if (!s) return "never";
  return s.error ? `failed ${ago(s.startedAtMs)}` : `${ago(s.startedAtMs)} (${formatDuration(s.durationMs)})`;
}

export function syncLine(s: RepoSync): string {
  const when = new Date(s.startedAtMs).toISOString();
  return `${when}  ${s.via.padEnd(7)} ${formatDuration(s.durationMs).padStart(6)}  ${s.error ? `failed: ${printable(s.error)}` : (s.commit || "-").slice(0, 12)}`;
}

export function jobJson(j: Job): Record<string, unknown> {
  let definition: unknown;
  try {
    definition = JSON.parse(j.jobJson);
  } catch {
    definition = null;
  }
  return {
    repo: j.repo,
    name: j.name,
    file: j.file,
    commit: j.commit,
    triggers: j.triggers,
    lastRun: j.lastRun ? runJson(j.lastRun) : null,
    recentRuns: j.recentRuns.map(runJson),
    definition,
  };
}

export function lastRunCell(j: Job): Cell[] {
  if (!j.lastRun) return ["-", "-"];
  return [`${j.lastRun.id} (${ago(j.lastRun.createdAtMs)})`, stateCell(j.lastRun.state)];
}
