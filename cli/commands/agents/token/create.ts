import { Flags } from "@oclif/core";
import { HodeiCommand } from "../../../base.js";
import { durationFlag } from "../../../flags.js";
import { joinTokenJson } from "../../../token-format.js";
import { parseLabels } from "../../../../agent/parse.js";
import { ConfigError } from "../../../../agent/errors.js";
import { UsageError } from "../../../errors.js";

export default class AgentsTokenCreate extends HodeiCommand {
  static override summary = "Create a join token for agents and print it once (the controller keeps only its hash).";
  static override description = `An agent presents the token once (hodei agent --token-file FILE) and receives its own credential, which it keeps in its work dir and uses from then on. A used, expired or revoked token is refused, and every attempt is audited. Labels given here are fixed on every agent that joins with the token: the agent cannot override them. Needs an operator or admin token for every project. See docs/security.md, "Agents".`;
  static override examples = [
    "hodei agents token create --labels pool=gpu,zone=eu --ttl 10m > join.token",
    "hodei agents token create --uses 0 --ttl 0 --description 'autoscaled workers'   # reusable, never expires: keep it safe",
  ];
  static override flags = {
    labels: Flags.string({ description: "labels fixed on every agent that joins with it, k=v,k2=v2" }),
    ttl: durationFlag({ description: "how long the token can be used to join, e.g. 10m, 24h; 0 = never expires. Default: 1h" }),
    uses: Flags.integer({ description: "how many agents may join with it; 0 = unlimited. Default: 1", min: 0 }),
    description: Flags.string({ description: "what the token is for (shown by `hodei agents token ls`)", default: "" }),
  };

  async run(): Promise<Record<string, unknown>> {
    const { flags } = await this.parse(AgentsTokenCreate);
    let labels: Record<string, string>;
    try {
      labels = flags.labels ? parseLabels("labels", flags.labels) : {};
    } catch (err) {
      if (err instanceof ConfigError) throw new UsageError(err.message);
      throw err;
    }
    const client = await this.connect(flags.controller);
    const r = await client.createJoinToken({ labels, maxUses: flags.uses ?? 1, expiresInMs: flags.ttl ?? 3_600_000, description: flags.description });
    const info = r.info!;
    if (!this.jsonEnabled()) {
      process.stdout.write(`${r.token}\n`);
      const uses = info.maxUses ? `${info.maxUses} use${info.maxUses === 1 ? "" : "s"}` : "unlimited uses";
      const expires = info.expiresAtMs ? `until ${new Date(info.expiresAtMs).toISOString()}` : "never expires";
      process.stderr.write(`join token ${info.id} created (${uses}, ${expires}); it is shown only now: hand it to the agent in a 0600 file (hodei agent --token-file FILE)\n`);
    }
    return { token: r.token, ...joinTokenJson(info) };
  }
}
