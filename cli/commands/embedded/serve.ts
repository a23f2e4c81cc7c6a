import { Command } from "@oclif/core";
import { defaultDataDir, serveDaemon } from "../../embedded.js";

/** The embedded daemon's entry point; `hodei` starts it itself (cli/embedded.ts). */
export default class EmbeddedServe extends Command {
  static override hidden = true;
  static override summary = "Run the embedded controller and its local agent for HODEI_DATA_DIR in the foreground (started by hodei itself).";

  async run(): Promise<void> {
    await this.parse(EmbeddedServe);
    await serveDaemon(defaultDataDir());
  }
}
