/** Human output: tables, durations, state colours, in one place. */
import type { Run, Agent, Attempt, Trigger } from "../proto/gen/hodei/v1/control.js";

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

// eslint-disable-next-line no-control-regex -- matching control characters is the point
const UNPRINTABLE = /[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;
const NAMED_ESCAPES: Record<string, string> = { "\n": "\\n", "\r": "\\r", "\t": "\\t" };

/**
 * What agents and jobs supply (agent names, labels, versions, job names, run
 * messages, signals) is printed through this: C0 and C1 control characters,
 * DEL and the bidirectional overrides come out as escapes (`\x1b`, `\n`,
 * `\u202e`), so an agent named `ESC[2J` cannot clear the operator's screen
 * nor a message reorder a line. Never applied to a job's log bytes, which
 * pass through byte for byte (cli/output.ts).
 */
export function printable(s: string): string {
  return s.replace(UNPRINTABLE, (c) => {
    const named = NAMED_ESCAPES[c];
    if (named) return named;
    const code = c.charCodeAt(0);
    return code <= 0xff ? `\\x${code.toString(16).padStart(2, "0")}` : `\\u${code.toString(16).padStart(4, "0")}`;
  });
}

export function colorState(state: string, tty = useColor()): string {
  const c = COLORS[state];
  return tty && c ? `\x1b[${c}m${printable(state)}\x1b[0m` : printable(state);
}

/** A table cell with a colour (an SGR parameter such as "32"), applied around its escaped text. */
export interface Styled {
  text: string;
  sgr?: string;
}
export type Cell = string | Styled;

/** A cell as printed: its text escaped, in its colour if it has one. */
export function renderCell(c: Cell): string {
  if (typeof c === "string") return printable(c);
  return c.sgr ? `\x1b[${c.sgr}m${printable(c.text)}\x1b[0m` : printable(c.text);
}

/** A run's or an agent's state as a table cell, coloured on a terminal. */
export function stateCell(state: string, tty = useColor()): Styled {
  return { text: state, sgr: tty ? COLORS[state] : undefined };
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

/** Plain column table. Every cell is printed through printable(); colour only comes from Styled cells. */
export function table(head: string[], rows: Cell[][]): string {
  const text = (c: Cell | undefined): string => printable(c === undefined ? "" : typeof c === "string" ? c : c.text);
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => text(r[i]).length)));
  const line = (cells: Cell[]): string =>
    cells
      .map((c, i) => (i === cells.length - 1 ? renderCell(c) : renderCell(c) + " ".repeat(widths[i]! - text(c).length)))
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

/** One line saying how a run ended, for people (agent-supplied parts escaped: see printable). */
export function outcome(r: Pick<Run, "state" | "reason" | "exitCode" | "signal" | "message">): string {
  return printable(rawOutcome(r));
}

function rawOutcome(r: Pick<Run, "state" | "reason" | "exitCode" | "signal" | "message">): string {
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

/** A ref for people: refs/heads/main → main, refs/tags/v1 → v1, refs/pull/7/head → pull/7/head. */
export function shortRef(ref: string): string {
  return ref.replace(/^refs\/(heads|tags)\//, "").replace(/^refs\//, "");
}

/** Where a run came from, short (runs ls): `push main@abc1234`, `schedule`, `manual`; a fork is marked. */
export function triggerShort(t: Trigger | undefined): string {
  if (!t || !t.event) return "manual";
  const at = t.commit ? `${t.ref ? shortRef(t.ref) : ""}@${t.commit.slice(0, 7)}` : t.ref ? shortRef(t.ref) : "";
  return `${t.event}${at ? ` ${at}` : ""}${t.fork ? " (fork)" : ""}`;
}

/** The trigger's lines of `runs get`; none for a run submitted from a file. */
export function triggerRows(t: Trigger | undefined): [string, string][] {
  if (!t || !t.event) return [["event", "manual"]];
  const rows: [string, string][] = [["event", t.via ? `${t.event} (${t.via})` : t.event]];
  if (t.repo) rows.push(["repo", t.repo]);
  if (t.ref) rows.push(["ref", t.ref]);
  if (t.commit) rows.push(["commit", t.commit]);
  if (t.before && !/^0+$/.test(t.before)) rows.push(["before", t.before]);
  if (t.base) rows.push(["base", t.base]);
  if (t.actor) rows.push(["actor", t.actor]);
  if (t.deliveryId) rows.push(["delivery", t.deliveryId]);
  if (t.event === "pull_request" || t.fork) rows.push(["fork", t.fork ? "yes (secrets are withheld)" : "no"]);
  return rows;
}

function triggerJson(t: Trigger | undefined): Record<string, unknown> | null {
  if (!t || !t.event) return null;
  return {
    event: t.event,
    repo: t.repo || null,
    ref: t.ref || null,
    commit: t.commit || null,
    before: t.before || null,
    base: t.base || null,
    actor: t.actor || null,
    deliveryId: t.deliveryId || null,
    fork: t.fork,
    via: t.via || null,
  };
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
    trigger: triggerJson(r.trigger),
    project: r.project || "default",
    submittedBy: r.submittedBy || null,
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
