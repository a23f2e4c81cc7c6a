import { Args } from "@oclif/core";
import { randomUUID } from "node:crypto";
import { HodeiCommand } from "../base.js";
import { runJson } from "../format.js";

export default class Rerun extends HodeiCommand {
  static override summary = "Start a new run from the job document of an earlier run; prints the new run's id.";
  static override description =
    "The new run gets the same job document, source and environment (secrets are resolved again); follow it with hodei logs NEW -f.";
  static override examples = ["<%= config.bin %> rerun 42", "<%= config.bin %> logs \"$(<%= config.bin %> rerun 42)\" -f --exit-status"];
  static override args = { run: Args.string({ description: "run id", required: true }) };

  async run(): Promise<Record<string, unknown>> {
    const { args, flags } = await this.parse(Rerun);
    const client = await this.connect(flags.controller);
    const run = await client.rerunRun(args.run, randomUUID());
    if (!this.jsonEnabled()) process.stdout.write(`${run.id}\n`);
    return runJson(run);
  }
}
