import { Args, Flags } from "@oclif/core";
import { HodeiCommand } from "../../base.js";
import { agentJson, colorState, printable } from "../../format.js";
import { durationFlag } from "../../flags.js";

export default class AgentsDrain extends HodeiCommand {
  static override summary = "Drain an agent: it takes no new work and leaves once its runs finish.";
  static override description =
    "Runs already on the agent go on (or are cancelled after --deadline); queued runs go to other agents. The agent exits once idle.";
  static override examples = ["<%= config.bin %> agents drain build-3", "<%= config.bin %> agents drain build-3 --reason \"kernel upgrade\" --deadline 10m"];
  static override args = { agent: Args.string({ description: "agent name", required: true }) };
  static override flags = {
    reason: Flags.string({ description: "why, for the agent's log" }),
    deadline: durationFlag({ description: "cancel runs still going after this long, e.g. 10m (default: no limit)" }),
  };

  async run(): Promise<Record<string, unknown>> {
    const { args, flags } = await this.parse(AgentsDrain);
    const client = await this.connect(flags.controller);
    const agent = await client.drainAgent(args.agent, flags.reason, flags.deadline ?? 0);
    if (!this.jsonEnabled()) process.stdout.write(`agent ${printable(agent.name)} is ${colorState(agent.state)} (${agent.running} running)\n`);
    return agentJson(agent);
  }
}
