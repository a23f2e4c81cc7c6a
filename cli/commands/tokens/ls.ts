import { HodeiCommand } from "../../base.js";
import { ago, table } from "../../format.js";
import { tokenJson, tokenState } from "../../token-format.js";

export default class TokensLs extends HodeiCommand {
  static override summary = "List API tokens (their prefixes, never the tokens).";
  static override description =
    "Each token's name, role, projects, prefix, state (active, expired, revoked), expiry and last use. Needs an admin token.";
  static override examples = ["<%= config.bin %> tokens ls", "<%= config.bin %> tokens ls --json"];

  async run(): Promise<{ tokens: Record<string, unknown>[] }> {
    const { flags } = await this.parse(TokensLs);
    const client = await this.connect(flags.controller);
    const tokens = await client.listTokens();
    if (!this.jsonEnabled()) {
      process.stdout.write(
        table(
          ["ID", "NAME", "ROLE", "PROJECTS", "PREFIX", "STATE", "EXPIRES", "LAST USED", "CREATED BY"],
          tokens.map((t) => [t.id, t.name, t.role, t.projects.join(",") || "*", `${t.prefix}…`, tokenState(t), t.expiresAtMs ? ago(t.expiresAtMs) : "never", t.lastUsedAtMs ? ago(t.lastUsedAtMs) : "-", t.createdBy]),
        ),
      );
    }
    return { tokens: tokens.map(tokenJson) };
  }
}
