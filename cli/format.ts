/** Human output: tables, durations, state colours, in one place. */
import type { Run, Agent, Attempt } from "../proto/gen/hodei/v1/control.js";

const useColor = (): boolean => Boolean(process.stdout.isTTY) && !process.env.NO_COLOR;

const COLORS: Record<string, string> = {
  succeeded: "32",
  failed: "31",
  timed_out: "31",
  cancelled: "33",
  running: "36",
  assigned: "36",
  queued: "90",
  connected: "32",
  draining: "33",
  disconnected: "90",
};

export function colorState(state: string, tty = useColor()): string {
  const c = COLORS[state];
  return tty && c ? `\x1b[${c}m${state}\x1b[0m` : state;
}

export function formatDuration(ms: number): string {
  if (ms < 0) ms = 0;
  if (ms < 1000) return `${ms}ms`;
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(1)}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m${Math.floor(s % 60)}s`;
  return `${Math.floor(m / 60)}h${m % 60}m`;
}

export function ago(ms: number, now = Date.now()): string {
  return ms ? `${formatDuration(now - ms)} ago` : "-";
}

/** Plain column table; the visible width ignores ANSI colour codes. */
export function table(head: string[], rows: string[][]): string {
  // eslint-disable-next-line no-control-regex -- matching ANSI colour codes is the point
  const visible = (s: string): number => s.replace(/\x1b\[[0-9;]*m/g, "").length;
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => visible(r[i] ?? ""))));
  const line = (cells: string[]): string =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c + " ".repeat(widths[i]! - visible(c))))
      .join("  ")
      .trimEnd();
  return [line(head), ...rows.map(line)].join("\n") + "\n";
}

export function runDuration(r: Run): string {
  if (!r.startedAtMs) return "-";
  return formatDuration((r.finishedAtMs || Date.now()) - r.startedAtMs);
}

/** How an attempt ended, for people. */
export function attemptOutcome(a: Attempt): string {
  return outcome({ state: a.state, reason: a.reason, exitCode: a.exitCode, signal: a.signal, message: a.message });
}

/** One line saying how a run ended, for people. */
export function outcome(r: Pick<Run, "state" | "reason" | "exitCode" | "signal" | "message">): string {
  switch (r.state) {
    case "succeeded":
      return "succeeded";
    case "failed":
      if (r.reason === "exited") return `failed with exit code ${r.exitCode}`;
      if (r.reason === "signaled") return `failed: killed by ${r.signal}`;
      return `failed (${r.reason})${r.message ? `: ${r.message}` : ""}`;
    case "timed_out":
      return "timed out";
    case "cancelled":
      return `cancelled${r.message ? ` (${r.message})` : ""}`;
    default:
      return r.state;
  }
}

export function runJson(r: Run): Record<string, unknown> {
  return {
    id: r.id,
    job: r.jobName,
    state: r.state,
    attempt: r.attempt,
    exitCode: r.exitCode ?? null,
    signal: r.signal || null,
    reason: r.reason || null,
    message: r.message || null,
    agent: r.agentName || r.agentId || null,
    priority: r.priority,
    source: r.source || null,
    createdAt: r.createdAtMs ? new Date(r.createdAtMs).toISOString() : null,
    startedAt: r.startedAtMs ? new Date(r.startedAtMs).toISOString() : null,
    finishedAt: r.finishedAtMs ? new Date(r.finishedAtMs).toISOString() : null,
    logChunks: r.logChunks,
    notBefore: r.notBeforeMs ? new Date(r.notBeforeMs).toISOString() : null,
    attempts: r.attempts.map((a) => ({
      attempt: a.attempt,
      state: a.state,
      reason: a.reason || null,
      exitCode: a.exitCode ?? null,
      signal: a.signal || null,
      message: a.message || null,
      agent: a.agentName || a.agentId || null,
      startedAt: a.startedAtMs ? new Date(a.startedAtMs).toISOString() : null,
      finishedAt: a.finishedAtMs ? new Date(a.finishedAtMs).toISOString() : null,
      logChunks: a.logChunks,
    })),
  };
}

export function agentJson(a: Agent): Record<string, unknown> {
  return {
    id: a.id,
    name: a.name,
    state: a.state,
    labels: a.labels,
    slots: a.slots,
    running: a.running,
    version: a.version,
    killMethod: a.killMethod,
    cpuPercent: a.cpuPercent,
    memoryUsedBytes: a.memoryUsedBytes,
    memoryTotalBytes: a.memoryTotalBytes,
    connectedAt: a.connectedAtMs ? new Date(a.connectedAtMs).toISOString() : null,
    lastSeen: a.lastSeenMs ? new Date(a.lastSeenMs).toISOString() : null,
  };
}
