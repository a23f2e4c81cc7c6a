import { Args } from "@oclif/core";
import { HodeiCommand } from "../../base.js";
import { tokenJson } from "../../token-format.js";

export default class TokensRevoke extends HodeiCommand {
  static override summary = "Revoke an API token: it is refused from now on (its name stays taken).";
  static override description =
    "Takes effect at once, on every controller sharing the database. Needs an admin token.";
  static override examples = ["<%= config.bin %> tokens revoke ci", "<%= config.bin %> tokens revoke 7 --json"];
  static override args = { token: Args.string({ description: "the token's id or name (hodei tokens ls)", required: true }) };

  async run(): Promise<Record<string, unknown>> {
    const { args, flags } = await this.parse(TokensRevoke);
    const client = await this.connect(flags.controller);
    const t = await client.revokeToken(args.token);
    if (!this.jsonEnabled()) process.stdout.write(`revoked token ${t.name} (id ${t.id})\n`);
    return tokenJson(t);
  }
}
