/**
 * Human output: tables sized to the terminal, relative times, durations,
 * state colours, in one place. Colour only on a terminal, never with NO_COLOR
 * set (https://no-color.org) or --no-color (which sets it: cli/base.ts).
 */
import type { Run, Agent, Attempt, Trigger } from "../proto/gen/hodei/v1/control.js";

/** Colour on `stream` (stdout by default): only a terminal, and never with NO_COLOR. */
export const useColor = (stream: { isTTY?: boolean } = process.stdout): boolean => Boolean(stream.isTTY) && !process.env.NO_COLOR;

/**
 * How wide human output may be: the terminal's width on a terminal, else
 * COLUMNS when set (as ls(1)), else no limit (a pipe gets whole lines).
 */
export function terminalWidth(stream: { isTTY?: boolean; columns?: number } = process.stdout, env: NodeJS.ProcessEnv = process.env): number {
  if (stream.isTTY && stream.columns && stream.columns > 0) return stream.columns;
  const cols = Number(env.COLUMNS);
  return Number.isInteger(cols) && cols > 0 ? cols : Infinity;
}

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

/** A time relative to now, for people: `12s ago`, `3m ago`, `5h ago`, `2d ago`, `in 29d`; `-` for none. */
export function ago(ms: number, now = Date.now()): string {
  if (!ms) return "-";
  const d = now - ms;
  const abs = Math.abs(d);
  const s = Math.floor(abs / 1000);
  const text = s < 1 ? "now" : s < 60 ? `${s}s` : s < 3600 ? `${Math.floor(s / 60)}m` : s < 86400 ? `${Math.floor(s / 3600)}h` : s < 86400 * 365 ? `${Math.floor(s / 86400)}d` : `${Math.floor(s / (86400 * 365))}y`;
  if (text === "now") return "just now";
  return d >= 0 ? `${text} ago` : `in ${text}`;
}

/** A column narrower than this is not shrunk further; the table drops columns instead. */
const MIN_COLUMN = 8;

/**
 * An aligned table that fits `width` (the terminal's: terminalWidth()).
 * Every cell is printed through printable(); colour only comes from Styled
 * cells. When the natural table is too wide, the widest columns are cut
 * (ending in `…`), never the first (an id or a name, which people copy); when
 * that is not enough, columns are left out from the right. With --json the
 * data is all there.
 */
export function table(head: string[], rows: Cell[][], width = terminalWidth()): string {
  const text = (c: Cell | undefined): string => printable(c === undefined ? "" : typeof c === "string" ? c : c.text);
  const natural = head.map((h, i) => Math.max(h.length, ...rows.map((r) => text(r[i]).length)));
  let shown = head.map((_, i) => i);
  let widths = fit(shown.map((i) => natural[i]!), width);
  while (!widths && shown.length > 1) {
    shown = shown.slice(0, -1);
    widths = fit(shown.map((i) => natural[i]!), width);
  }
  widths ??= [Math.max(1, Math.min(natural[0]!, width))]; // even the first column alone is too wide: cut it
  const cut = (s: string, w: number): string => (s.length <= w ? s : `${s.slice(0, Math.max(0, w - 1))}…`);
  const line = (cells: Cell[]): string =>
    shown
      .map((col, k) => {
        const c = cells[col] ?? "";
        const w = widths[k]!;
        const t = text(c);
        const body = t.length <= w ? renderCell(c) : renderCell(typeof c === "string" ? cut(t, w) : { ...c, text: cut(t, w) });
        return k === shown.length - 1 ? body : body + " ".repeat(Math.max(0, w - Math.min(t.length, w)));
      })
      .join("  ")
      .trimEnd();
  return [line(head), ...rows.map(line)].join("\n") + "\n";
}

/** Column widths that fit `width` by cutting the widest columns (not the first) down to MIN_COLUMN; undefined when they cannot. */
function fit(natural: number[], width: number): number[] | undefined {
  const w = [...natural];
  const total = (): number => w.reduce((a, b) => a + b, 0) + 2 * (w.length - 1);
  while (total() > width) {
    let widest = -1;
    for (let i = 1; i < w.length; i++) if (w[i]! > MIN_COLUMN && (widest < 0 || w[i]! > w[widest]!)) widest = i;
    if (widest < 0) return undefined;
    w[widest]! -= 1;
  }
  return w;
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
