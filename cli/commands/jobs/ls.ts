import { Flags } from "@oclif/core";
import { HodeiCommand } from "../../base.js";
import { printable, table } from "../../format.js";
import { jobJson, lastRunCell } from "../../gitops-format.js";

export default class JobsLs extends HodeiCommand {
  static override summary = "List the jobs defined in the controller's repositories.";
  static override description =
    "Jobs from every registered repository (or one, with --repo), their triggers and their last run; definition errors are listed after the table.";
  static override examples = ["<%= config.bin %> jobs ls", "<%= config.bin %> jobs ls --repo web --json"];
  static override flags = { repo: Flags.string({ description: "only this repository's jobs" }) };

  async run(): Promise<{ jobs: Record<string, unknown>[]; errors: string[] }> {
    const { flags } = await this.parse(JobsLs);
    const client = await this.connect(flags.controller);
    const { jobs, errors } = await client.listJobs(flags.repo ?? "");
    if (!this.jsonEnabled()) {
      process.stdout.write(table(["REPO", "JOB", "TRIGGERS", "LAST RUN", "STATE"], jobs.map((j) => [j.repo, j.name, j.triggers || "-", ...lastRunCell(j)])));
      if (errors.length) process.stdout.write(`\nDefinition errors:\n${errors.map((e) => `  ${printable(e)}`).join("\n")}\n`);
    }
    return { jobs: jobs.map(jobJson), errors };
  }
}
