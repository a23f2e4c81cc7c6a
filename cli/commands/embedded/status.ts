import { readFileSync } from "node:fs";
import { HodeiCommand } from "../../base.js";
import { daemonLogOf, defaultDataDir, findDaemon } from "../../embedded.js";

/** Resident memory of a process in bytes, from /proc (Linux); undefined elsewhere. */
function rssOf(pid: number): number | undefined {
  try {
    const m = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return m ? Number(m[1]) * 1024 : undefined;
  } catch {
    return undefined;
  }
}

export default class EmbeddedStatus extends HodeiCommand {
  static override summary = "Show the embedded controller daemon for this data dir: whether it runs, its pid, address and memory.";
  static override description =
    "With no controller configured, hodei starts a background controller (with a local agent) for the data dir (HODEI_DATA_DIR, default ~/.local/share/hodei). " +
    "It exits by itself after HODEI_EMBEDDED_IDLE (default 10m) with no runs and no client calls. Exit status is 0 whether or not it runs.";
  static override examples = ["<%= config.bin %> embedded status", "<%= config.bin %> embedded status --json"];

  async run(): Promise<Record<string, unknown>> {
    await this.parse(EmbeddedStatus);
    const dataDir = defaultDataDir();
    const d = findDaemon(dataDir);
    const rss = d ? rssOf(d.pid) : undefined;
    const out = { dataDir, running: Boolean(d), pid: d?.pid ?? null, address: d?.address ?? null, startedAt: d?.startedAt ?? null, rssBytes: rss ?? null, log: daemonLogOf(dataDir) };
    if (!this.jsonEnabled()) {
      if (!d) this.log(`embedded controller for ${dataDir}: not running (the next hodei command starts it)`);
      else {
        this.log(`embedded controller for ${dataDir}: running`);
        this.log(`  pid      ${d.pid}`);
        this.log(`  address  ${d.address ?? "(starting)"}`);
        this.log(`  since    ${d.startedAt}`);
        if (rss !== undefined) this.log(`  memory   ${(rss / 1024 / 1024).toFixed(0)} MB resident`);
        this.log(`  log      ${daemonLogOf(dataDir)}`);
      }
    }
    return out;
  }
}
