import { existsSync, readFileSync } from "node:fs";
import { resolve } from "node:path";
import { Args, Flags } from "@oclif/core";
import { HodeiCommand } from "../../base.js";
import { durationFlag } from "../../flags.js";
import { CliError, UsageError } from "../../errors.js";
import { repoJson, syncLine } from "../../gitops-format.js";
import { withSpinner } from "../../progress.js";

/** A secret from a file: its first line's trailing newline is not part of it. */
function readSecret(file: string, what: string): string {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    throw new UsageError(`cannot read the ${what} file ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  const secret = text.replace(/\r?\n$/, "");
  if (!secret) throw new UsageError(`the ${what} file ${file} is empty`);
  return secret;
}

export default class ReposAdd extends HodeiCommand {
  static override summary = "Register a repository of job definitions and sync it.";
  static override description =
    "The controller keeps a mirror of the repository, reads every definition under --path at the head of the tracked branch, and runs jobs whose triggers match a push (webhook or polling) or a schedule. Credentials are stored by the controller and never printed back.";
  static override examples = [
    "<%= config.bin %> repos add https://github.com/acme/web --webhook-secret-file ./secret --token-file ./token",
    "<%= config.bin %> repos add ./my-repo --name demo --poll-interval 10s",
  ];
  static override args = { url: Args.string({ description: "https://, ssh://, git://, git@host:path, file:// or a local path", required: true }) };
  static override flags = {
    name: Flags.string({ description: "name of the repository in Hodei (default: the URL's last segment)" }),
    branch: Flags.string({ description: "tracked branch", default: "main" }),
    path: Flags.string({ description: "folder of the definitions in the repository", default: ".hodei" }),
    platform: Flags.boolean({ description: "may define Policy and Provider documents", default: false }),
    "webhook-secret": Flags.string({ description: "secret webhooks are signed with", exclusive: ["webhook-secret-file"] }),
    "webhook-secret-file": Flags.string({ description: "file holding the webhook secret", exclusive: ["webhook-secret"] }),
    "token-file": Flags.string({ description: "file holding a token for git over HTTPS and for GitHub's API (commit statuses)" }),
    "poll-interval": durationFlag({ description: "fetch this often when no webhook arrives (default 60s; 0: never poll)" }),
    project: Flags.string({ description: "the project of the runs the repository starts (default: \"default\", or the only project of a project-scoped token)" }),
    "no-sync": Flags.boolean({ description: "register without syncing now", default: false }),
  };

  async run(): Promise<Record<string, unknown>> {
    const { args, flags } = await this.parse(ReposAdd);
    // A local path means the controller's filesystem: make it absolute here, where "." is meant.
    const url = !/^[a-z][a-z0-9+.-]*:\/\//i.test(args.url) && !/^[^/]+@[^/]+:/.test(args.url) && existsSync(args.url) ? resolve(args.url) : args.url;
    const webhookSecret = flags["webhook-secret-file"] ? readSecret(flags["webhook-secret-file"], "webhook secret") : (flags["webhook-secret"] ?? "");
    const token = flags["token-file"] ? readSecret(flags["token-file"], "token") : "";
    const poll = flags["poll-interval"];
    const client = await this.connect(flags.controller);
    const repo = await withSpinner(flags["no-sync"] ? "registering the repository" : `adding and syncing ${url}`, client.addRepo({
      url,
      name: flags.name ?? "",
      branch: flags.branch,
      path: flags.path,
      platform: flags.platform,
      webhookSecret,
      token,
      pollIntervalMs: poll === undefined ? 0 : poll === 0 ? -1 : poll,
      noSync: flags["no-sync"],
      project: flags.project ?? "",
    }), { enabled: !this.jsonEnabled() });
    const failed = repo.lastSync?.error;
    if (!this.jsonEnabled()) {
      const head = repo.headCommit ? `${repo.branch} at ${repo.headCommit.slice(0, 12)}` : `no branch ${repo.branch} yet`;
      const status = flags["no-sync"] ? "not synced yet" : failed ? "first sync failed" : `${head}: ${repo.jobs} job${repo.jobs === 1 ? "" : "s"}, ${repo.errors.length} error${repo.errors.length === 1 ? "" : "s"}`;
      process.stdout.write(`added repository ${repo.name} (${repo.url}); ${status}\n`);
      for (const e of repo.errors) process.stdout.write(`  ${e}\n`);
      if (failed && repo.lastSync) process.stderr.write(`  ${syncLine(repo.lastSync)}\n`);
    }
    if (failed) {
      throw new CliError(`repository ${repo.name} was added, but its first sync failed: ${failed}\nFix the cause and run: hodei repos sync ${repo.name}   (or remove it: hodei repos rm ${repo.name})`);
    }
    return repoJson(repo);
  }
}
