import { HodeiCommand } from "../../base.js";
import { configFile, readContexts } from "../../contexts.js";
import { contextJson } from "../../context-format.js";
import { table } from "../../format.js";

export default class ContextLs extends HodeiCommand {
  static override summary = "List saved contexts; the current one is marked *.";
  static override description = "Reads the user's config file (shown with --json as `file`). An empty list is not an error.";
  static override examples = ["<%= config.bin %> context ls", "<%= config.bin %> context ls --json"];

  async run(): Promise<Record<string, unknown>> {
    await this.parse(ContextLs);
    const file = configFile();
    const data = readContexts(file);
    const contexts = Object.entries(data.contexts).map(([name, c]) => contextJson(name, c, name === data.current));
    if (!this.jsonEnabled()) {
      if (contexts.length === 0) process.stderr.write(`no contexts yet (${file}); add one with hodei context add NAME --controller ADDR\n`);
      else {
        process.stdout.write(
          table(
            ["CURRENT", "NAME", "CONTROLLER", "TOKEN FILE", "CA"],
            Object.entries(data.contexts).map(([name, c]) => [name === data.current ? "*" : "", name, c.controller, c.tokenFile ?? "-", c.ca ?? "-"]),
          ),
        );
        if (process.env.HODEI_CONTROLLER && data.current) process.stderr.write(`hodei: note: HODEI_CONTROLLER is set in this shell and wins over the current context\n`);
      }
    }
    return { file, current: data.current ?? null, contexts };
  }
}
