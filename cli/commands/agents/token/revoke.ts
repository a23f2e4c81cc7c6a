import { Args } from "@oclif/core";
import { HodeiCommand } from "../../../base.js";
import { joinTokenJson } from "../../../token-format.js";

export default class AgentsTokenRevoke extends HodeiCommand {
  static override summary = "Revoke a join token: no agent can join with it from now on (agents that joined keep their credentials).";
  static override description =
    "Agents that already joined with it keep their own credentials; revoke those with hodei agents revoke NAME.";
  static override examples = ["hodei agents token revoke 3"];
  static override args = { id: Args.string({ description: "the token's id (hodei agents token ls)", required: true }) };

  async run(): Promise<Record<string, unknown>> {
    const { args, flags } = await this.parse(AgentsTokenRevoke);
    const client = await this.connect(flags.controller);
    const t = await client.revokeJoinToken(args.id);
    if (!this.jsonEnabled()) process.stdout.write(`revoked join token ${t.id}\n`);
    return joinTokenJson(t);
  }
}
