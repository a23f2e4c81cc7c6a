import { Args } from "@oclif/core";
import { HodeiCommand } from "../../base.js";
import { configFile, useContext } from "../../contexts.js";
import { contextJson } from "../../context-format.js";
import { printable } from "../../format.js";

export default class ContextUse extends HodeiCommand {
  static override summary = "Make a saved context the current one: commands talk to its controller from now on.";
  static override description = "HODEI_CONTROLLER and --controller still win over it, for one command or one shell (docs/cli-conventions.md).";
  static override examples = ["<%= config.bin %> context use prod", "<%= config.bin %> context use local --json"];
  static override args = { name: Args.string({ description: "a context's name (hodei context ls)", required: true }) };

  async run(): Promise<Record<string, unknown>> {
    const { args } = await this.parse(ContextUse);
    const c = useContext(args.name, configFile());
    if (!this.jsonEnabled()) {
      process.stdout.write(`now using context ${printable(args.name)} (${printable(c.controller)})\n`);
      if (process.env.HODEI_CONTROLLER) process.stderr.write(`hodei: note: HODEI_CONTROLLER=${printable(process.env.HODEI_CONTROLLER)} is set in this shell and wins over the context; unset it to use the context\n`);
    }
    return contextJson(args.name, c, true);
  }
}
