/**
 * The step summary ($GITHUB_STEP_SUMMARY) of a run: a heading with its
 * result, a table of job, commit, agent, attempts, duration and result, and
 * on failure the last lines of the log in a fenced block. Markdown only; what
 * agents and jobs supply is escaped so it cannot break the table or inject
 * HTML.
 */
import type { Run } from "../../proto/gen/hodei/v1/control.js";
import { formatDuration, outcome } from "../../cli/format.js";
import { TAIL_LINES } from "./workflow-log.js";

export interface SummaryFacts {
  run: Run;
  /** The commit the job ran at, as the Action knows it (the workflow's, or the ref asked for). */
  commit: string;
  /** Where the job came from: a workspace path or `repo@ref`. */
  from: string;
  mode: "remote" | "embedded";
  controller: string;
  /** Last lines of the latest attempt (shown when the run did not succeed). */
  tail: string[];
}

const ICON: Record<string, string> = { succeeded: "✅", failed: "❌", timed_out: "⏱️", cancelled: "🚫" };

/** Text for a Markdown table cell: no pipes, newlines or HTML. */
export function cell(s: string): string {
  return s.replace(/[\r\n]+/g, " ").replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/\|/g, "\\|").replace(/`/g, "'");
}

/** Seconds from the run's first start to its end (0 when it never started). */
export function durationMs(r: Run): number {
  const start = r.attempts[0]?.startedAtMs || r.startedAtMs;
  return start && r.finishedAtMs ? Math.max(0, r.finishedAtMs - start) : 0;
}

export function summaryMarkdown(f: SummaryFacts): string {
  const r = f.run;
  const ms = durationMs(r);
  const rows: [string, string][] = [
    ["Job", `\`${cell(r.jobName)}\``],
    ["Run", `${cell(r.id)} (${f.mode === "embedded" ? "embedded controller" : cell(f.controller)})`],
    ["From", cell(f.from)],
    ["Commit", f.commit ? `\`${cell(f.commit)}\`` : "—"],
    ["Agent", cell(r.agentName || r.agentId || "—")],
    ["Attempts", String(r.attempt || r.attempts.length || 0)],
    ["Duration", ms ? formatDuration(ms) : "—"],
    ["Result", `${ICON[r.state] ?? ""} ${cell(outcome(r))}`.trim()],
  ];
  const lines = [`### ${ICON[r.state] ?? ""} Hodei: ${cell(r.jobName)} ${cell(outcome(r))}`.replace("###  ", "### "), "", "| | |", "|---|---|", ...rows.map(([k, v]) => `| ${k} | ${v} |`), ""];
  if (r.state !== "succeeded") {
    const tail = f.tail;
    lines.push(tail.length > 0 ? `Last ${Math.min(tail.length, TAIL_LINES)} lines of the log (attempt ${r.attempt}):` : "The run printed nothing.", "");
    if (tail.length > 0) {
      const fence = fenceFor(tail);
      lines.push(`${fence}text`, ...tail, fence, "");
    }
  }
  return `${lines.join("\n")}\n`;
}

/** A backtick fence longer than any run of backticks in the text, so the text cannot close it. */
function fenceFor(text: string[]): string {
  let longest = 0;
  for (const l of text) for (const m of l.matchAll(/`+/g)) longest = Math.max(longest, m[0].length);
  return "`".repeat(Math.max(3, longest + 1));
}
