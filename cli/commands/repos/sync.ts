import { Args } from "@oclif/core";
import { HodeiCommand } from "../../base.js";
import { printable } from "../../format.js";
import { repoJson } from "../../gitops-format.js";
import { withSpinner } from "../../progress.js";
import { CliError, ControllerError } from "../../errors.js";

export default class ReposSync extends HodeiCommand {
  static override summary = "Fetch a repository now and read its definitions.";
  static override description =
    "Waits for the fetch (a spinner shows on a terminal); exits 125 saying why when the fetch fails. Webhooks and polling sync by themselves: this is for now.";
  static override examples = ["<%= config.bin %> repos sync web", "<%= config.bin %> repos sync web --json"];
  static override args = { name: Args.string({ description: "repository name", required: true }) };

  async run(): Promise<Record<string, unknown>> {
    const { args, flags } = await this.parse(ReposSync);
    const client = await this.connect(flags.controller);
    const r = await withSpinner(`syncing repository ${printable(args.name)}`, client.syncRepo(args.name), { enabled: !this.jsonEnabled() }).catch((err: unknown) => {
      // SyncRepo's only conflict is a failed fetch: hodei could not sync, as when repos add's first sync fails (125), not a refused request (1).
      if (err instanceof ControllerError && err.kind === "conflict") throw new CliError(err.message, { cause: err });
      throw err;
    });
    if (!this.jsonEnabled()) {
      const head = r.headCommit ? `${r.branch} at ${r.headCommit.slice(0, 12)}` : `no branch ${r.branch}`;
      process.stdout.write(`synced ${r.name}: ${head}, ${r.jobs} job${r.jobs === 1 ? "" : "s"}, ${r.errors.length} error${r.errors.length === 1 ? "" : "s"}\n`);
      for (const e of r.errors) process.stdout.write(`  ${printable(e)}\n`);
    }
    return repoJson(r);
  }
}
