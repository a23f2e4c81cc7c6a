import { Flags } from "@oclif/core";
import { HodeiCommand } from "../../base.js";
import { durationFlag } from "../../flags.js";
import { tokenJson } from "../../token-format.js";

export default class TokensCreate extends HodeiCommand {
  static override summary = "Create an API token and print it once (the controller keeps only its hash).";
  static override description =
    "Roles: viewer reads runs, jobs, repos and logs; submitter also submits, and cancels and reruns its own runs; operator manages every run of its projects, agents and repos; admin also manages tokens and reads the audit log. Give the token to its user through HODEI_TOKEN or a file named by HODEI_TOKEN_FILE.";
  static override examples = ["<%= config.bin %> tokens create --name ci --role submitter --project web --expires 90d"];
  static override flags = {
    name: Flags.string({ description: "a name for the token (shown in audit entries and as a run's submitter)", required: true }),
    role: Flags.string({ description: "what the token may do", options: ["viewer", "submitter", "operator", "admin"], required: true }),
    project: Flags.string({ description: "limit the token to this project (repeat for several); none: every project", multiple: true }),
    expires: durationFlag({ description: "the token stops working after this long (e.g. 30d); default never" }),
  };

  async run(): Promise<Record<string, unknown>> {
    const { flags } = await this.parse(TokensCreate);
    const client = await this.connect(flags.controller);
    const r = await client.createToken({ name: flags.name, role: flags.role, projects: flags.project ?? [], expiresInMs: flags.expires ?? 0 });
    if (!this.jsonEnabled()) {
      process.stdout.write(`${r.token}\n`);
      process.stderr.write(`token ${r.info!.name} (${r.info!.role}${r.info!.projects.length ? `, projects ${r.info!.projects.join(", ")}` : ""}) created; it is shown only now: store it (e.g. in a file for HODEI_TOKEN_FILE)\n`);
    }
    return { token: r.token, ...tokenJson(r.info!) };
  }
}
