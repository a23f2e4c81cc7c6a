import { HodeiCommand } from "../../base.js";
import { table } from "../../format.js";
import { repoJson, syncCell } from "../../gitops-format.js";

export default class ReposLs extends HodeiCommand {
  static override summary = "List the repositories the controller syncs.";
  static override description =
    "One line per repository: URL, tracked branch, head commit, jobs, definition errors and the last sync.";
  static override examples = ["<%= config.bin %> repos ls", "<%= config.bin %> repos ls --json"];

  async run(): Promise<{ repos: Record<string, unknown>[] }> {
    const { flags } = await this.parse(ReposLs);
    const client = await this.connect(flags.controller);
    const repos = await client.listRepos();
    if (!this.jsonEnabled()) {
      process.stdout.write(
        table(
          ["NAME", "URL", "BRANCH", "HEAD", "JOBS", "ERRORS", "LAST SYNC"],
          repos.map((r) => [r.name, r.url, r.branch, r.headCommit ? r.headCommit.slice(0, 12) : "-", String(r.jobs), String(r.errors.length), syncCell(r.lastSync)]),
        ),
      );
    }
    return { repos: repos.map(repoJson) };
  }
}
