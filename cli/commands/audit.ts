import { Flags } from "@oclif/core";
import { HodeiCommand } from "../base.js";
import { durationFlag } from "../flags.js";
import { ago, table } from "../format.js";
import { auditJson } from "../token-format.js";

export default class Audit extends HodeiCommand {
  static override summary = "Read the audit log: sign-in failures, refusals, run operations, token and repository changes (admin).";
  static override description =
    "Entries are newest first; AT is relative (5m ago), --json has ISO times and each entry's detail. Needs an admin token.";
  static override examples = ["<%= config.bin %> audit --since 1h --action run.cancel", "<%= config.bin %> audit --actor ci --json"];
  static override flags = {
    since: durationFlag({ description: "only entries from this long ago on (e.g. 1h, 7d)" }),
    actor: Flags.string({ description: "only entries of this actor (a token's name)" }),
    action: Flags.string({ description: "only this action (auth, run.submit, run.cancel, run.rerun, token.create, token.revoke, repo.add, repo.sync, repo.remove, agent.drain, webhook.reject)" }),
    limit: Flags.integer({ description: "at most this many entries, newest first", default: 100 }),
  };

  async run(): Promise<{ entries: Record<string, unknown>[] }> {
    const { flags } = await this.parse(Audit);
    const client = await this.connect(flags.controller);
    const entries = await client.listAudit({ sinceMs: flags.since ? Date.now() - flags.since : 0, actor: flags.actor ?? "", action: flags.action ?? "", limit: flags.limit });
    if (!this.jsonEnabled()) {
      process.stdout.write(table(["AT", "ACTOR", "ACTION", "TARGET", "OUTCOME", "SOURCE"], entries.map((e) => [ago(e.atMs), e.actor, e.action, e.target, e.outcome, e.source])));
    }
    return { entries: entries.map(auditJson) };
  }
}
