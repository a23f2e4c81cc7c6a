import { Args } from "@oclif/core";
import { stringify } from "yaml";
import { HodeiCommand } from "../../base.js";
import { ago, outcome, stateCell, table } from "../../format.js";
import { UsageError } from "../../errors.js";
import { jobJson } from "../../gitops-format.js";

export default class JobsGet extends HodeiCommand {
  static override summary = "Show a job's definition at its repository's head, and its recent runs.";
  static override description =
    "Prints the definition as YAML, with its file, commit and triggers, then its recent runs.";
  static override examples = ["<%= config.bin %> jobs get web/unit-tests", "<%= config.bin %> jobs get web/unit-tests --json"];
  static override args = { job: Args.string({ description: "REPO/JOB", required: true }) };

  async run(): Promise<Record<string, unknown>> {
    const { args, flags } = await this.parse(JobsGet);
    const slash = args.job.indexOf("/");
    if (slash <= 0 || slash === args.job.length - 1) throw new UsageError(`expected REPO/JOB, e.g. web/unit-tests; got "${args.job}" (hodei jobs ls lists them)`);
    const client = await this.connect(flags.controller);
    const j = await client.getJob(args.job.slice(0, slash), args.job.slice(slash + 1));
    const json = jobJson(j);
    if (!this.jsonEnabled()) {
      let out = `# ${j.repo}/${j.name} from ${j.file} at ${j.commit.slice(0, 12)}\n# triggers: ${j.triggers || "-"}\n${stringify(json.definition)}`;
      if (j.recentRuns.length) {
        out += "\n" + table(["RUN", "STATE", "OUTCOME", "CREATED"], j.recentRuns.map((r) => [r.id, stateCell(r.state), outcome(r), ago(r.createdAtMs)]));
      } else out += "\nNo runs yet.\n";
      process.stdout.write(out);
    }
    return json;
  }
}
