/**
 * The run list as the watcher shows it, pure: which runs pass the filters,
 * in which order, the counts per state and the finished-per-minute sparkline.
 */
import type { Run } from "../../proto/gen/hodei/v1/control.js";
import { STATES } from "./style.js";

export interface ListFilter {
  /** Case-insensitive text matched against id, job, source, repo, agent, project and state. */
  text: string;
  /** A state, or "" for all. */
  state: string;
}

const ACTIVE = new Set(["queued", "assigned", "running"]);
export const isActive = (r: Run): boolean => ACTIVE.has(r.state);

/** Newest first (run ids grow). */
export function visibleRuns(runs: Iterable<Run>, f: ListFilter): Run[] {
  const text = f.text.trim().toLowerCase();
  const out: Run[] = [];
  for (const r of runs) {
    if (f.state && r.state !== f.state) continue;
    if (text && !haystack(r).includes(text)) continue;
    out.push(r);
  }
  return out.sort((a, b) => (b.id.length - a.id.length) || (b.id < a.id ? -1 : b.id > a.id ? 1 : 0));
}

function haystack(r: Run): string {
  return [r.id, r.jobName, r.source, r.trigger?.repo ?? "", r.trigger?.event ?? "", r.agentName, r.project, r.state].join(" ").toLowerCase();
}

export function countByState(runs: Iterable<Run>): Record<string, number> {
  const c: Record<string, number> = Object.fromEntries(STATES.map((s) => [s, 0]));
  for (const r of runs) c[r.state] = (c[r.state] ?? 0) + 1;
  return c;
}

/** The next state filter `s` selects: all, then each state, then all again. */
export function nextStateFilter(current: string): string {
  const i = STATES.indexOf(current as (typeof STATES)[number]);
  return i === STATES.length - 1 ? "" : STATES[i + 1]!;
}

/** Runs finished in each of the last `buckets` minutes before `now`, oldest first. */
export function finishedPerMinute(runs: Iterable<Run>, now: number, buckets = 60): number[] {
  const out = new Array<number>(buckets).fill(0);
  for (const r of runs) {
    if (!r.finishedAtMs) continue;
    const ago = Math.floor((now - r.finishedAtMs) / 60_000);
    if (ago >= 0 && ago < buckets) out[buckets - 1 - ago]! += 1;
  }
  return out;
}

const BARS = "▁▂▃▄▅▆▇█";

/** A sparkline: one bar per value, scaled to the largest (a blank minute is the lowest bar). */
export function sparkline(values: number[]): string {
  const max = Math.max(...values, 0);
  return values.map((v) => (max === 0 || v === 0 ? BARS[0] : BARS[Math.min(BARS.length - 1, Math.ceil((v / max) * (BARS.length - 1)))])).join("");
}

/** 5s, 3m07s, 2h04m. */
export function duration(ms: number): string {
  if (ms < 0) ms = 0;
  const s = Math.floor(ms / 1000);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m${String(s % 60).padStart(2, "0")}s`;
  const h = Math.floor(m / 60);
  return `${h}h${String(m % 60).padStart(2, "0")}m`;
}

/** How long the run has run (ticking while it runs), or waited while queued. */
export function runDuration(r: Run, now: number): string {
  if (r.startedAtMs) return duration((r.finishedAtMs || now) - r.startedAtMs);
  if (r.finishedAtMs) return "-";
  return duration(now - r.createdAtMs);
}

/** The first `n` rows around `selected` that fit: the window of rows to render. */
export function windowOf(total: number, selected: number, height: number, top: number): number {
  if (height <= 0) return 0;
  if (selected < top) return selected;
  if (selected >= top + height) return selected - height + 1;
  return Math.max(0, Math.min(top, Math.max(0, total - height)));
}
