import { HodeiCommand } from "../../base.js";
import { defaultDataDir, stopDaemon } from "../../embedded.js";

export default class EmbeddedStop extends HodeiCommand {
  static override summary = "Stop the embedded controller daemon for this data dir, and its local agent.";
  static override description =
    "Runs still going get 5 s to finish, then the agent cancels them; the next hodei command starts the daemon again. " +
    "Exit status is 0 also when it was not running.";
  static override examples = ["<%= config.bin %> embedded stop"];

  async run(): Promise<Record<string, unknown>> {
    await this.parse(EmbeddedStop);
    const dataDir = defaultDataDir();
    const d = await stopDaemon(dataDir);
    if (!this.jsonEnabled()) this.log(d ? `stopped the embedded controller for ${dataDir} (pid ${d.pid})` : `the embedded controller for ${dataDir} was not running`);
    return { dataDir, stopped: Boolean(d), pid: d?.pid ?? null };
  }
}
