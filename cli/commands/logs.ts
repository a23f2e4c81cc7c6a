import { Args, Flags } from "@oclif/core";
import { HodeiCommand } from "../base.js";
import { outputClosed, writeChunk } from "../output.js";
import { runJson } from "../format.js";
import { UsageError } from "../errors.js";
import { exitCodeOf } from "./run.js";

export default class LogsCommand extends HodeiCommand {
  static override summary = "Print a run's log from the first byte; with -f, follow it until the run ends.";
  static override description =
    "The job's stdout goes to stdout and its stderr to stderr, byte for byte. If the reader of either goes away (`hodei logs RUN | head -c 10`), " +
    "hodei stops at once and prints nothing more. With --exit-status (as `gh run watch`), `-f` exits with the code `hodei run` would have: the job's own exit code, 124 on timeout, 130 when cancelled.";
  static override args = { run: Args.string({ description: "run id", required: true }) };
  static override flags = {
    follow: Flags.boolean({ char: "f", description: "keep streaming until the run ends" }),
    attempt: Flags.integer({ description: "attempt to show (default: the latest)", min: 1 }),
    "exit-status": Flags.boolean({ description: "with -f: exit with the run's exit code once it ends", dependsOn: ["follow"] }),
  };

  async run(): Promise<Record<string, unknown> | undefined> {
    const { args, flags } = await this.parse(LogsCommand);
    const client = await this.connect(flags.controller);
    if (flags.attempt !== undefined) {
      const run = await client.getRun(args.run);
      if (flags.attempt > run.attempt) {
        const has = run.attempt === 0 ? "has not started an attempt yet" : `has ${run.attempt} attempt${run.attempt === 1 ? "" : "s"}`;
        throw new UsageError(`run ${args.run} ${has}; --attempt must be between 1 and ${Math.max(1, run.attempt)}`);
      }
    }
    const json = this.jsonEnabled();
    const chunks: { seq: number; stream: number; data: string; tsMs: number }[] = [];
    const following = client.followLogs(args.run, { follow: flags.follow, attempt: flags.attempt }, (e) => {
      if (json) chunks.push({ seq: e.seq, stream: e.stream, data: Buffer.from(e.data).toString("base64"), tsMs: e.tsMs });
      else return writeChunk(e);
    });
    following.catch(() => {}); // once our reader is gone, a later failure is nobody's business
    const ended = await Promise.race([following, outputClosed.then(() => "closed" as const)]);
    if (ended === "closed") return undefined; // print nothing more; exit 0 as a filter cut short by head does
    if (flags["exit-status"] && ended) process.exitCode = exitCodeOf(ended);
    if (!json) return undefined;
    return { run: args.run, chunks, end: ended ? runJson(ended) : null };
  }
}
