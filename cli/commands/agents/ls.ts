import { HodeiCommand } from "../../base.js";
import { agentJson, ago, stateCell, table } from "../../format.js";

const mib = (n: number): string => `${Math.round(n / 1048576)}Mi`;

export default class AgentsLs extends HodeiCommand {
  static override summary = "List agents, connected or not.";
  static override description =
    "One line per agent: state, running/slots, CPU and memory, how it kills a job's processes, labels, last heartbeat. The table fits the terminal; --json has everything.";
  static override examples = ["<%= config.bin %> agents ls", "<%= config.bin %> agents ls --json"];

  async run(): Promise<{ agents: Record<string, unknown>[] }> {
    const { flags } = await this.parse(AgentsLs);
    const client = await this.connect(flags.controller);
    const { agents } = await client.listAgents();
    if (!this.jsonEnabled()) {
      process.stdout.write(
        table(
          ["NAME", "STATE", "RUNNING", "CPU", "MEMORY", "KILL", "LABELS", "LAST SEEN"],
          agents.map((a) => [
            a.name,
            stateCell(a.state),
            `${a.running}/${a.slots}`,
            `${a.cpuPercent.toFixed(0)}%`,
            a.memoryTotalBytes ? `${mib(a.memoryUsedBytes)}/${mib(a.memoryTotalBytes)}` : "-",
            a.killMethod || "-",
            Object.entries(a.labels).map(([k, v]) => `${k}=${v}`).join(",") || "-",
            ago(a.lastSeenMs),
          ]),
        ),
      );
    }
    return { agents: agents.map(agentJson) };
  }
}
