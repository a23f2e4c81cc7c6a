import { Args } from "@oclif/core";
import { HodeiCommand } from "../../base.js";
import { formatDuration, printable } from "../../format.js";
import { repoJson, syncCell, syncLine } from "../../gitops-format.js";

export default class ReposGet extends HodeiCommand {
  static override summary = "Show a repository: its sync state, definition errors and recent syncs.";
  static override description =
    "Its settings (never its secrets), head commit, job count, definition errors, commit statuses that could not be posted and the recent syncs.";
  static override examples = ["<%= config.bin %> repos get web", "<%= config.bin %> repos get web --json"];
  static override args = { name: Args.string({ description: "repository name", required: true }) };

  async run(): Promise<Record<string, unknown>> {
    const { args, flags } = await this.parse(ReposGet);
    const client = await this.connect(flags.controller);
    const r = await client.getRepo(args.name);
    if (!this.jsonEnabled()) {
      const rows: [string, string][] = [
        ["name", r.name],
        ["url", r.url],
        ["branch", r.branch],
        ["path", r.path],
        ["platform", r.platform ? "yes" : "no"],
        ["webhook", r.hasWebhookSecret ? "secret set" : "no secret (webhooks refused)"],
        ["token", r.hasToken ? "set" : "none"],
        ["polling", r.pollIntervalMs ? `every ${formatDuration(r.pollIntervalMs)}` : "never"],
        ["head", r.headCommit || "-"],
        ["jobs", String(r.jobs)],
        ["last sync", syncCell(r.lastSync)],
      ];
      let out = rows.map(([k, v]) => `${k.padEnd(10)} ${printable(v)}`).join("\n") + "\n";
      if (r.errors.length) out += `\nDefinition errors at ${r.headCommit.slice(0, 12)}:\n${r.errors.map((e) => `  ${printable(e)}`).join("\n")}\n`;
      if (r.statusErrors.length) out += `\nCommit statuses not posted:\n${r.statusErrors.map((e) => `  ${printable(e)}`).join("\n")}\n`;
      if (r.recentSyncs.length) out += `\nRecent syncs:\n${r.recentSyncs.map((s) => `  ${syncLine(s)}`).join("\n")}\n`;
      process.stdout.write(out);
    }
    return repoJson(r);
  }
}
