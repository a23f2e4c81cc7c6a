import { Args, Flags } from "@oclif/core";
import { existsSync } from "node:fs";
import { HodeiCommand } from "../../base.js";
import { absolute, addContext, configFile } from "../../contexts.js";
import { contextJson } from "../../context-format.js";
import { UsageError } from "../../errors.js";
import { printable } from "../../format.js";

export default class ContextAdd extends HodeiCommand {
  static override summary = "Save a controller (address, token file, CA) under a name; the first one saved becomes current.";
  static override description =
    "Contexts live in the user's config file (~/.config/hodei/config.json, or $XDG_CONFIG_HOME/hodei, or $HODEI_CONFIG_DIR; mode 0600), which keeps the paths of the token and CA files, never a token. " +
    "Adding a name that exists replaces it. Which controller a command talks to: --controller, else HODEI_CONTROLLER, else the current context, else the embedded controller (docs/cli-conventions.md).";
  static override examples = [
    "<%= config.bin %> context add prod --controller hodei.example.com --token-file ~/.hodei/prod.token --ca ~/.hodei/ca.crt",
    "<%= config.bin %> context add local --controller 127.0.0.1:7070 --token-file ./hodei-data/admin.token",
  ];
  static override args = { name: Args.string({ description: "the context's name (letters, digits, '.', '_', '-')", required: true }) };
  static override flags = {
    // Unlike everywhere else, --controller and --ca here are what is saved: no environment variable stands in for them.
    controller: Flags.string({ description: "the controller's address HOST[:PORT] (port 7070 when left out)", required: true, helpGroup: undefined }),
    "token-file": Flags.string({ description: "a file holding the API token to send to it (its path is saved, not the token)", helpValue: "FILE" }),
    ca: Flags.string({ description: "PEM CA certificate that signed the controller's certificate: talk to it over TLS", helpValue: "FILE", helpGroup: undefined }),
  };

  async run(): Promise<Record<string, unknown>> {
    const { args, flags } = await this.parse(ContextAdd);
    if (flags.controller.trim() === "") throw new UsageError("--controller is empty; give HOST[:PORT]");
    const tokenFile = flags["token-file"] === undefined ? undefined : absolute(flags["token-file"]);
    const ca = flags.ca === undefined ? undefined : absolute(flags.ca);
    for (const [flag, file] of [["--token-file", tokenFile], ["--ca", ca]] as const) {
      if (file !== undefined && !existsSync(file)) throw new UsageError(`${flag} ${file}: no such file`);
    }
    const file = configFile();
    const c = { controller: flags.controller, ...(tokenFile ? { tokenFile } : {}), ...(ca ? { ca } : {}) };
    const { replaced, current } = addContext(args.name, c, file);
    if (!this.jsonEnabled()) {
      process.stdout.write(`${replaced ? "replaced" : "added"} context ${printable(args.name)} (${printable(c.controller)})${current ? "; it is the current context" : `; use it with hodei context use ${printable(args.name)}`}\n`);
    }
    return { ...contextJson(args.name, c, current), replaced, file };
  }
}
