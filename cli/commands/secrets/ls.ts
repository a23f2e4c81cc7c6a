import { Flags } from "@oclif/core";
import { HodeiCommand } from "../../base.js";
import { ago, table } from "../../format.js";
import { secretJson } from "../../secrets-format.js";

export default class SecretsLs extends HodeiCommand {
  static override summary = "List secrets: names, projects, who set them and when (never values).";
  static override description =
    "Values are never shown, nor sent by the controller.";
  static override examples = ["<%= config.bin %> secrets ls", "<%= config.bin %> secrets ls --project deploy --json"];
  static override flags = { project: Flags.string({ description: "only this project's secrets" }) };

  async run(): Promise<{ secrets: Record<string, unknown>[] }> {
    const { flags } = await this.parse(SecretsLs);
    const client = await this.connect(flags.controller);
    const secrets = await client.listSecrets(flags.project ?? "");
    if (!this.jsonEnabled()) {
      process.stdout.write(
        table(
          ["NAME", "PROJECT", "UPDATED", "BY", "CREATED"],
          secrets.map((s) => [s.name, s.project || "(all)", ago(s.updatedAtMs), s.updatedBy, ago(s.createdAtMs)]),
        ),
      );
    }
    return { secrets: secrets.map(secretJson) };
  }
}
