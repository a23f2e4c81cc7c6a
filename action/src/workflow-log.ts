/**
 * The run's log as the workflow log shows it: one `::group::` per attempt,
 * the job's bytes passed through as they come (ANSI colours and all, stdout,
 * stderr and Hodei's own lines in the order the controller stored them), and
 * the last lines of the latest attempt kept for the step summary.
 *
 * The job's output is not the Action's to give commands with: between
 * `::stop-commands::TOKEN` and `::TOKEN::` the runner reads no workflow
 * command, so a job printing `::set-output`, `::error::` or `::add-mask::`
 * (which the agent has already turned into `::add-mask::***`) cannot
 * change this step. The token is random per step.
 */
import * as core from "@actions/core";
import { randomBytes } from "node:crypto";
import type { LogEntry } from "../../proto/gen/hodei/v1/control.js";

/** How many lines of the latest attempt the summary shows on failure. */
export const TAIL_LINES = 50;
/** A line kept for the summary is cut here: a job printing one huge line must not make a huge summary. */
const MAX_TAIL_LINE = 2_000;

export class WorkflowLog {
  private open: number | undefined;
  private atLineStart = true;
  private readonly token = `hodei-${randomBytes(16).toString("hex")}`;
  private lines: string[] = [];
  private partial = "";
  private readonly decoder = new TextDecoder();

  /** `print`: false with follow-logs: false (the tail is still kept for the summary). */
  constructor(
    private readonly runId: string,
    private readonly jobName: string,
    private readonly print: boolean,
    private readonly out: (data: string | Uint8Array) => void = (d) => void process.stdout.write(d),
  ) {}

  /** Opens attempt n's group (closing the previous one); its tail starts empty. */
  attempt(n: number): void {
    if (this.open === n) return;
    this.close();
    this.open = n;
    this.lines = [];
    this.partial = "";
    if (!this.print) return;
    core.startGroup(`Hodei run ${this.runId} · ${this.jobName} · attempt ${n}`);
    this.out(`::stop-commands::${this.token}\n`);
    this.atLineStart = true;
  }

  chunk(e: LogEntry): void {
    this.attempt(e.attempt);
    this.keep(e.data);
    if (!this.print || e.data.length === 0) return;
    this.out(e.data);
    this.atLineStart = e.data[e.data.length - 1] === 0x0a;
  }

  /** A line of the Action's own inside the current attempt's group (e.g. why an attempt ended). */
  note(text: string): void {
    if (!this.print) return;
    if (!this.atLineStart) this.out("\n");
    this.out(`${text}\n`);
    this.atLineStart = true;
  }

  /** Ends the open group, turning workflow commands back on. */
  close(): void {
    if (this.open === undefined) return;
    this.open = undefined;
    if (!this.print) return;
    if (!this.atLineStart) this.out("\n");
    this.out(`::${this.token}::\n`);
    core.endGroup();
    this.atLineStart = true;
  }

  /** The last TAIL_LINES lines of the latest attempt, ANSI escapes removed. */
  tail(): string[] {
    const all = this.partial ? [...this.lines, this.partial] : this.lines;
    return all.slice(-TAIL_LINES).map(stripAnsi);
  }

  private keep(data: Uint8Array): void {
    const text = this.partial + this.decoder.decode(data, { stream: true });
    const parts = text.split(/\r?\n/);
    this.partial = (parts.pop() ?? "").slice(-MAX_TAIL_LINE);
    for (const p of parts) this.lines.push(p.length > MAX_TAIL_LINE ? `${p.slice(0, MAX_TAIL_LINE)}…` : p);
    if (this.lines.length > TAIL_LINES * 2) this.lines = this.lines.slice(-TAIL_LINES);
  }
}

// eslint-disable-next-line no-control-regex -- ANSI escape sequences are control characters
const ANSI = /\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[@-Z\\-_]/g;
// eslint-disable-next-line no-control-regex -- and so is the rest that a summary must not carry
const CONTROL = /[\x00-\x08\x0b-\x1f\x7f]/g;

/** A log line as text for Markdown: colours and other terminal controls removed; a carriage return keeps what was drawn last. */
export function stripAnsi(line: string): string {
  const drawn = line.includes("\r") ? (line.split("\r").filter((s) => s !== "").pop() ?? "") : line;
  return drawn.replace(ANSI, "").replace(CONTROL, "");
}
