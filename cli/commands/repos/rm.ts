import { Args } from "@oclif/core";
import { HodeiCommand } from "../../base.js";
import { repoJson } from "../../gitops-format.js";

export default class ReposRm extends HodeiCommand {
  static override summary = "Stop syncing a repository and forget its definitions (its runs are kept).";
  static override description =
    "Its runs, logs and secrets stay; webhooks for it are refused from now on.";
  static override examples = ["<%= config.bin %> repos rm web"];
  static override args = { name: Args.string({ description: "repository name", required: true }) };

  async run(): Promise<Record<string, unknown>> {
    const { args, flags } = await this.parse(ReposRm);
    const client = await this.connect(flags.controller);
    const r = await client.removeRepo(args.name);
    if (!this.jsonEnabled()) process.stdout.write(`removed repository ${r.name}\n`);
    return repoJson(r);
  }
}
