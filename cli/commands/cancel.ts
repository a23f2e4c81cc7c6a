import { Args, Flags } from "@oclif/core";
import { userInfo } from "node:os";
import { HodeiCommand } from "../base.js";
import { runJson, colorState } from "../format.js";

export default class CancelCommand extends HodeiCommand {
  static override summary = "Cancel a run: a queued run ends at once, a running one is stopped (SIGTERM, then SIGKILL after its grace).";
  static override description =
    "A run that already ended cannot be cancelled: that exits 1 (a conflict), saying how it ended. `hodei run` cancels its own run on Ctrl-C.";
  static override examples = ["<%= config.bin %> cancel 42", "<%= config.bin %> cancel 42 --reason \"wrong branch\" --json"];
  static override args = { run: Args.string({ description: "run id", required: true }) };
  static override flags = { reason: Flags.string({ description: "why, recorded on the run" }) };

  async run(): Promise<Record<string, unknown>> {
    const { args, flags } = await this.parse(CancelCommand);
    const client = await this.connect(flags.controller);
    const run = await client.cancelRun(args.run, flags.reason ?? `cancelled by ${userInfo().username} with hodei cancel`);
    if (!this.jsonEnabled()) {
      process.stdout.write(run.state === "cancelled" ? `run ${run.id} cancelled\n` : `run ${run.id} is ${colorState(run.state)}; asked its agent to stop it\n`);
    }
    return runJson(run);
  }
}
