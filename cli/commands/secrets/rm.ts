import { Args, Flags } from "@oclif/core";
import { HodeiCommand } from "../../base.js";
import { secretJson } from "../../secrets-format.js";

export default class SecretsRm extends HodeiCommand {
  static override summary = "Delete a secret; jobs that name it then fail before they start.";
  static override description =
    "Runs already started keep the value they were given.";
  static override examples = ["<%= config.bin %> secrets rm NPM_TOKEN", "<%= config.bin %> secrets rm KUBECONFIG --project deploy"];
  static override args = { name: Args.string({ description: "secret name", required: true }) };
  static override flags = { project: Flags.string({ description: "the project it belongs to (default: the one for every project)", default: "" }) };

  async run(): Promise<Record<string, unknown>> {
    const { args, flags } = await this.parse(SecretsRm);
    const client = await this.connect(flags.controller);
    const s = await client.deleteSecret(args.name, flags.project);
    if (!this.jsonEnabled()) process.stdout.write(`deleted secret ${s.name}${s.project ? ` of project ${s.project}` : ""}\n`);
    return secretJson(s);
  }
}
