import { Args, Flags } from "@oclif/core";
import { HodeiCommand } from "../base.js";
import { outputClosed, writeBytes } from "../output.js";
import { runJson } from "../format.js";
import { UsageError } from "../errors.js";
import { exitCodeOf } from "./run.js";
import { parseDuration, SpecValueError } from "../../schemas/durations.js";
import { LogStream } from "../../proto/gen/hodei/v1/common.js";
import { Stamper, streamName, TailBuffer, wanted, type Piece, type StreamName } from "../log-view.js";

/** --since: a duration back from now (5m, 2h, 1d) or a date and time (2026-01-10T12:00:00Z); a usage error otherwise. */
export function parseSince(input: string, now = Date.now()): number {
  if (/^\d{4}-\d\d-\d\d/.test(input)) {
    const t = Date.parse(input);
    if (Number.isNaN(t)) throw new UsageError(`--since ${JSON.stringify(input.slice(0, 80))} is not a valid date and time; e.g. 2026-01-10T12:00:00Z`);
    return t;
  }
  try {
    return now - parseDuration(input);
  } catch (err) {
    if (err instanceof SpecValueError) throw new UsageError(`--since ${JSON.stringify(input.slice(0, 80))}: give a duration back from now (30s, 5m, 2h, 1d) or a date and time (2026-01-10T12:00:00Z)`);
    throw err;
  }
}

export default class LogsCommand extends HodeiCommand {
  static override summary = "Print a run's log from the first byte; with -f, follow it until the run ends.";
  static override description =
    "The job's stdout goes to stdout and its stderr (and the agent's notes about the run) to stderr, byte for byte. " +
    "--stream keeps one of them, --since only what was written since then, --tail only the last N lines (of each attempt shown, before following), and --timestamps puts the time each line was written (UTC, ISO 8601) before it. " +
    "If the reader of either goes away (`hodei logs RUN | head -c 10`), hodei stops at once and prints nothing more. " +
    "With --exit-status (as `gh run watch`), `-f` exits with the code `hodei run` would have: the job's own exit code, 124 on timeout, 130 when cancelled. " +
    "With --json: {run, chunks: [{attempt, seq, stream, at, tsMs, data (base64)}], end} (schemas/cli/logs.schema.json); with --tail each chunk is one line.";
  static override examples = [
    "<%= config.bin %> logs 42",
    "<%= config.bin %> logs 42 -f --exit-status",
    "<%= config.bin %> logs 42 --tail 20 -f",
    "<%= config.bin %> logs 42 --since 5m --timestamps",
    "<%= config.bin %> logs 42 --attempt 1 --stream stderr",
    "<%= config.bin %> logs 42 --json",
  ];
  static override args = { run: Args.string({ description: "run id (hodei runs ls)", required: true }) };
  static override flags = {
    follow: Flags.boolean({ char: "f", description: "keep streaming until the run ends" }),
    attempt: Flags.integer({ description: "attempt to show (default: the latest)", min: 1 }),
    "exit-status": Flags.boolean({ description: "with -f: exit with the run's exit code once it ends", dependsOn: ["follow"] }),
    since: Flags.string({ description: "only what was written since then: a duration back from now (30s, 5m, 2h, 1d) or a date and time (2026-01-10T12:00:00Z)", helpValue: "DURATION|TIME" }),
    tail: Flags.integer({ description: "only the last N lines (then, with -f, everything new)", min: 0, helpValue: "N" }),
    timestamps: Flags.boolean({ char: "t", description: "put the time each line was written (UTC, ISO 8601) before it" }),
    stream: Flags.string({ description: "only this stream (stderr includes the agent's notes about the run)", options: ["stdout", "stderr"] }),
  };

  async run(): Promise<Record<string, unknown> | undefined> {
    const { args, flags } = await this.parse(LogsCommand);
    const sinceMs = flags.since === undefined ? undefined : parseSince(flags.since);
    const client = await this.connect(flags.controller);
    // A unary call first: an unknown run or a controller that is not there fails now (exit 4, 3), before
    // following, which waits through a controller restart.
    const run = await client.getRun(args.run);
    if (flags.attempt !== undefined) {
      if (flags.attempt > run.attempt) {
        const has = run.attempt === 0 ? "has not started an attempt yet" : `has ${run.attempt} attempt${run.attempt === 1 ? "" : "s"}`;
        throw new UsageError(`run ${args.run} ${has}; --attempt must be between 1 and ${Math.max(1, run.attempt)}`);
      }
    }
    const json = this.jsonEnabled();
    const only = { stream: flags.stream as StreamName | undefined, sinceMs };
    const chunks: Record<string, unknown>[] = [];
    const stamper = new Stamper();
    const out = (p: Piece): Promise<void> | void => {
      if (json) {
        chunks.push({ attempt: p.attempt, seq: p.seq, stream: streamName(p.stream), at: new Date(Number(p.tsMs)).toISOString(), tsMs: p.tsMs, data: Buffer.from(p.data).toString("base64") });
        return;
      }
      const to = p.stream === LogStream.LOG_STREAM_STDOUT ? process.stdout : process.stderr;
      return writeBytes(to, flags.timestamps ? stamper.stamp(p) : p.data);
    };
    const show = (p: Piece): Promise<void> | void => (wanted(p, only) ? out(p) : undefined);

    const reading = (async () => {
      if (flags.tail === undefined) return client.followLogs(args.run, { follow: flags.follow, attempt: flags.attempt }, show);
      // --tail: the log so far, its last lines; then (-f) what comes after the last piece read.
      const tail = new TailBuffer(flags.tail);
      let last: Piece | undefined;
      await client.followLogs(args.run, { follow: false, attempt: flags.attempt }, (e) => {
        last = e;
        if (wanted(e, only)) tail.push(e);
      });
      for (const p of tail.end()) await out(p);
      if (!flags.follow) return undefined;
      return client.followLogs(args.run, { follow: true, attempt: last?.attempt ?? flags.attempt, fromSeq: last ? last.seq + 1 : 0 }, show);
    })();
    reading.catch(() => {}); // once our reader is gone, a later failure is nobody's business
    const ended = await Promise.race([reading, outputClosed.then(() => "closed" as const)]);
    if (ended === "closed") return undefined; // print nothing more; exit 0 as a filter cut short by head does
    if (flags["exit-status"] && ended) process.exitCode = exitCodeOf(ended);
    if (!json) return undefined;
    return { run: args.run, chunks, end: ended ? runJson(ended) : null };
  }
}
