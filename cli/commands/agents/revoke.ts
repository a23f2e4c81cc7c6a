import { Args } from "@oclif/core";
import { HodeiCommand } from "../../base.js";

export default class AgentsRevoke extends HodeiCommand {
  static override summary = "Revoke an agent's credential: its connection is closed and it is refused until it joins again with a join token.";
  static override description =
    "For a machine that is lost, retired or no longer trusted. Its assigned and running runs are handled as for any agent that goes away (retried or failed once it is lost). Needs an operator or admin token for every project. See docs/security.md, \"Agents\".";
  static override examples = ["hodei agents revoke gpu-1"];
  static override args = { agent: Args.string({ description: "the agent's name (hodei agents ls)", required: true }) };

  async run(): Promise<{ id: string; name: string }> {
    const { args, flags } = await this.parse(AgentsRevoke);
    const client = await this.connect(flags.controller);
    const r = await client.revokeAgent(args.agent);
    if (!this.jsonEnabled()) process.stdout.write(`revoked agent ${r.name} (id ${r.agentId}); it can join again only with a join token\n`);
    return { id: r.agentId, name: r.name };
  }
}
