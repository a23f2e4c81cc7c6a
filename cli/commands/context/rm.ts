import { Args } from "@oclif/core";
import { HodeiCommand } from "../../base.js";
import { configFile, removeContext } from "../../contexts.js";
import { contextJson } from "../../context-format.js";
import { printable } from "../../format.js";

export default class ContextRm extends HodeiCommand {
  static override summary = "Forget a saved context (its token and CA files are left alone).";
  static override description = "Removing the current context leaves none current: commands then use HODEI_CONTROLLER or the embedded controller.";
  static override examples = ["<%= config.bin %> context rm staging"];
  static override args = { name: Args.string({ description: "a context's name (hodei context ls)", required: true }) };

  async run(): Promise<Record<string, unknown>> {
    const { args } = await this.parse(ContextRm);
    const c = removeContext(args.name, configFile());
    if (!this.jsonEnabled()) process.stdout.write(`removed context ${printable(args.name)}\n`);
    return contextJson(args.name, c, false);
  }
}
