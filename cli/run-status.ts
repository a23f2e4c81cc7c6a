/**
 * `hodei run` on a terminal: one live status line on stderr while the run
 * waits (queued and its place in the queue, assigned to AGENT, running, the
 * time so far), which becomes a fixed header above the job's output when the
 * first byte of it arrives, and one result line at the end (how it ended,
 * how long it ran, which attempt). Only when stderr is a terminal; the job's
 * bytes are never touched (cli/output.ts). docs/cli-conventions.md.
 */
import type { ControlClient } from "./client.js";
import type { Run } from "../proto/gen/hodei/v1/control.js";
import { formatDuration, outcome, printable, useColor } from "./format.js";

const FRAMES = ["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"];
const WAITING = new Set(["queued", "assigned"]);
/** How many queued runs are read to find our place; beyond it the place is "1000+". */
const QUEUE_SCAN = 1000;

const ordinal = (n: number): string => {
  const s = n % 100 >= 11 && n % 100 <= 13 ? "th" : (["th", "st", "nd", "rd"][n % 10] ?? "th");
  return `${n}${s}`;
};

/**
 * Our place among the queued runs the caller can see, as the dispatcher
 * orders them (priority, then oldest: claimRuns in controller/store/runs.ts);
 * 1 is next. Agents' labels may let a later run go first.
 */
export async function queuePosition(client: ControlClient, run: Pick<Run, "id" | "priority">): Promise<number | "many"> {
  const queued = await client.listRuns({ states: ["queued"], limit: QUEUE_SCAN });
  const ahead = queued.filter((r) => r.id !== run.id && (r.priority > run.priority || (r.priority === run.priority && Number(r.id) < Number(run.id)))).length;
  return queued.length >= QUEUE_SCAN && ahead >= QUEUE_SCAN - 1 ? "many" : ahead + 1;
}

/** What the status line says about a run's state. */
export function describeState(r: Pick<Run, "state" | "agentName" | "agentId" | "attempt">, position?: number | "many"): string {
  const agent = printable(r.agentName || r.agentId || "an agent");
  switch (r.state) {
    case "queued":
      return position === undefined ? "queued" : position === "many" ? "queued, 1000+ in queue" : `queued, ${ordinal(position)} in queue`;
    case "assigned":
      return `assigned to ${agent}`;
    case "running":
      return `running on ${agent}${r.attempt > 1 ? `, attempt ${r.attempt}` : ""}`;
    default:
      return printable(r.state);
  }
}

export class RunStatus {
  private run: Run;
  private position?: number | "many";
  private frame = 0;
  private drawn = false;
  private frozen = false;
  private readonly started = Date.now();
  private readonly timers: NodeJS.Timeout[] = [];
  private readonly color: boolean;

  constructor(
    private readonly client: ControlClient,
    submitted: Run,
    private readonly out: NodeJS.WriteStream = process.stderr,
  ) {
    this.run = submitted;
    this.color = useColor(out);
  }

  /** Starts drawing and watching the run's state (once a second). */
  start(): void {
    this.draw();
    const redraw = setInterval(() => this.draw(), 100);
    const poll = setInterval(() => void this.poll(), 1000);
    for (const t of [redraw, poll]) t.unref();
    this.timers.push(redraw, poll);
    void this.poll();
  }

  private async poll(): Promise<void> {
    if (this.frozen) return;
    try {
      const r = await this.client.getRun(this.run.id);
      this.position = r.state === "queued" ? await queuePosition(this.client, r) : undefined;
      if (!this.frozen) this.run = r;
    } catch {
      // The line keeps what it knew; following the log reports what matters.
    }
  }

  private line(): string {
    const elapsed = formatDuration(Date.now() - this.started).replace(/\.\d+s$/, "s");
    return `run ${this.run.id} · ${printable(this.run.jobName)} · ${describeState(this.run, this.position)} · ${elapsed}`;
  }

  private dim = (s: string): string => (this.color ? `\x1b[2m${s}\x1b[0m` : s);

  private draw(): void {
    if (this.frozen) return;
    const width = Math.max(20, (this.out.columns || 80) - 1);
    const spin = WAITING.has(this.run.state) ? FRAMES[this.frame++ % FRAMES.length]! : "▶";
    this.out.write(`\r\x1b[2K${this.dim(`${spin} ${this.line()}`.slice(0, width))}`);
    this.drawn = true;
  }

  /**
   * Ends the live line: it stays as the header above what comes next (the
   * job's first output, a note, the result). The running state is assumed
   * once output arrives, whatever the last poll saw.
   */
  freeze(now?: Partial<Run>): void {
    if (this.frozen) return;
    this.frozen = true;
    for (const t of this.timers) clearInterval(t);
    if (now) this.run = { ...this.run, ...now };
    if (WAITING.has(this.run.state) && now?.state === undefined) this.run = { ...this.run, state: "running" };
    const width = Math.max(20, (this.out.columns || 80) - 1);
    this.out.write(`${this.drawn ? "\r\x1b[2K" : ""}${this.dim(`▶ ${this.line()}`.slice(0, width))}\n`);
  }

  /** Freezes the line as the header once the run's agent is known (before the job's first output). */
  async header(): Promise<void> {
    if (this.frozen) return;
    await this.poll();
    // Output means it ran, whatever state the run has reached by now (a quick job has already ended).
    this.freeze({ state: "running" });
  }

  /** Stops without a header (detached, output closed). */
  stop(): void {
    if (this.frozen) return;
    this.frozen = true;
    for (const t of this.timers) clearInterval(t);
    if (this.drawn) this.out.write("\r\x1b[2K");
  }

  /** The last line: how the run ended, how long it ran, which attempt. */
  result(ended: Run): void {
    if (!this.frozen) this.freeze({ agentName: ended.agentName, attempt: ended.attempt, state: ended.state });
    const ok = ended.state === "succeeded";
    const took = ended.startedAtMs && ended.finishedAtMs ? ` in ${formatDuration(ended.finishedAtMs - ended.startedAtMs)}` : "";
    const text = `${ok ? "✔" : "✘"} run ${ended.id} ${outcome(ended)}${took} · attempt ${ended.attempt}`;
    this.out.write(this.color ? `\x1b[${ok ? 32 : 31}m${text}\x1b[0m\n` : `${text}\n`);
  }
}
