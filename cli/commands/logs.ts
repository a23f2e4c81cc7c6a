import { Args, Flags } from "@oclif/core";
import { HodeiCommand } from "../base.js";
import { writeChunk } from "../output.js";
import { runJson } from "../format.js";

export default class LogsCommand extends HodeiCommand {
  static override summary = "Print a run's log from the first byte; with -f, follow it until the run ends.";
  static override args = { run: Args.string({ description: "run id", required: true }) };
  static override flags = {
    follow: Flags.boolean({ char: "f", description: "keep streaming until the run ends" }),
    attempt: Flags.integer({ description: "attempt to show (default: the latest)", min: 1 }),
  };

  async run(): Promise<Record<string, unknown> | undefined> {
    const { args, flags } = await this.parse(LogsCommand);
    const client = await this.connect(flags.controller);
    const json = this.jsonEnabled();
    const chunks: { seq: number; stream: number; data: string; tsMs: number }[] = [];
    const ended = await client.followLogs(args.run, { follow: flags.follow, attempt: flags.attempt }, (e) => {
      if (json) chunks.push({ seq: e.seq, stream: e.stream, data: Buffer.from(e.data).toString("base64"), tsMs: e.tsMs });
      else return writeChunk(e);
    });
    if (!json) return undefined;
    return { run: args.run, chunks, end: ended ? runJson(ended) : null };
  }
}
