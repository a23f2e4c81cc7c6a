import { Flags } from "@oclif/core";
import { HodeiCommand } from "../../base.js";
import { ago, runDuration, runJson, stateCell, table, triggerShort } from "../../format.js";

export default class RunsLs extends HodeiCommand {
  static override summary = "List runs, most recent first.";
  static override description =
    "The table fits the terminal (columns are cut or left out on a narrow one; --json has everything); CREATED is relative.";
  static override examples = ["<%= config.bin %> runs ls", "<%= config.bin %> runs ls --state failed --job unit-tests --limit 5", "<%= config.bin %> runs ls --json"];
  static override flags = {
    state: Flags.string({ description: "only runs in this state (repeatable)", multiple: true }),
    job: Flags.string({ description: "only runs of this job" }),
    limit: Flags.integer({ description: "how many", default: 20, min: 1, max: 1000 }),
  };

  async run(): Promise<{ runs: Record<string, unknown>[] }> {
    const { flags } = await this.parse(RunsLs);
    const client = await this.connect(flags.controller);
    const runs = await client.listRuns({ limit: flags.limit, states: flags.state ?? [], jobName: flags.job ?? "" });
    if (!this.jsonEnabled()) {
      process.stdout.write(
        table(
          ["ID", "JOB", "TRIGGER", "STATE", "EXIT", "ATTEMPT", "AGENT", "CREATED", "DURATION"],
          runs.map((r) => [r.id, r.jobName, triggerShort(r.trigger), stateCell(r.state), r.exitCode === undefined ? "-" : String(r.exitCode), String(r.attempt), r.agentName || "-", ago(r.createdAtMs), runDuration(r)]),
        ),
      );
    }
    return { runs: runs.map(runJson) };
  }
}
