import { HodeiCommand } from "../../../base.js";
import { ago, table } from "../../../format.js";
import { joinTokenJson, joinTokenState } from "../../../token-format.js";

export default class AgentsTokenLs extends HodeiCommand {
  static override summary = "List agents' join tokens (their prefixes, never the tokens).";
  static override description =
    "Each token's id, prefix, state (active, used, expired, revoked), uses so far and allowed, the labels it fixes, expiry, last use and description. Needs an operator or admin token for every project.";
  static override examples = ["hodei agents token ls", "hodei agents token ls --json"];

  async run(): Promise<{ tokens: Record<string, unknown>[] }> {
    const { flags } = await this.parse(AgentsTokenLs);
    const client = await this.connect(flags.controller);
    const tokens = await client.listJoinTokens();
    if (!this.jsonEnabled()) {
      const labels = (l: Record<string, string>): string => Object.entries(l).map(([k, v]) => `${k}=${v}`).join(",") || "-";
      process.stdout.write(
        table(
          ["ID", "PREFIX", "STATE", "USES", "LABELS", "EXPIRES", "LAST USED", "CREATED BY", "DESCRIPTION"],
          tokens.map((t) => [
            t.id,
            `${t.prefix}…`,
            joinTokenState(t),
            `${t.uses}/${t.maxUses || "∞"}`,
            labels(t.labels),
            t.expiresAtMs ? new Date(t.expiresAtMs).toISOString() : "never",
            t.lastUsedAtMs ? ago(t.lastUsedAtMs) : "-",
            t.createdBy,
            t.description,
          ]),
        ),
      );
    }
    return { tokens: tokens.map(joinTokenJson) };
  }
}
