import { Args } from "@oclif/core";
import { HodeiCommand } from "../../base.js";
import { ago, attemptOutcome, formatDuration, outcome, renderCell, runDuration, runJson, stateCell, table, triggerRows, type Cell } from "../../format.js";

/** An ISO time and how long ago, for people. */
const when = (ms: number): string => (ms ? `${new Date(ms).toISOString()} (${ago(ms)})` : "-");

export default class RunsGet extends HodeiCommand {
  static override summary = "Show one run.";
  static override description =
    "Its state, outcome, agent, trigger, times (ISO and relative) and, after a retry, every attempt.";
  static override examples = ["<%= config.bin %> runs get 42", "<%= config.bin %> runs get 42 --json"];
  static override args = { run: Args.string({ description: "run id", required: true }) };

  async run(): Promise<Record<string, unknown>> {
    const { args, flags } = await this.parse(RunsGet);
    const client = await this.connect(flags.controller);
    const r = await client.getRun(args.run);
    if (!this.jsonEnabled()) {
      const rows: [string, Cell][] = [
        ["id", r.id],
        ["job", r.jobName],
        ["state", stateCell(r.state)],
        ["outcome", outcome(r)],
        ["attempt", String(r.attempt)],
        ["agent", r.agentName || r.agentId || "-"],
        ["source", r.source || "-"],
        ...triggerRows(r.trigger),
        ["created", when(r.createdAtMs)],
        ["started", when(r.startedAtMs)],
        ["finished", when(r.finishedAtMs)],
        ["duration", runDuration(r)],
        ["log chunks", String(r.logChunks)],
      ];
      process.stdout.write(rows.map(([k, v]) => `${k.padEnd(11)}${renderCell(v)}`).join("\n") + "\n");
      if (r.attempts.length > 1) {
        process.stdout.write(
          "\n" +
            table(
              ["ATTEMPT", "STATE", "OUTCOME", "AGENT", "DURATION"],
              r.attempts.map((a) => [String(a.attempt), stateCell(a.state), attemptOutcome(a), a.agentName || "-", a.startedAtMs ? formatDuration((a.finishedAtMs || Date.now()) - a.startedAtMs) : "-"]),
            ),
        );
      }
    }
    return runJson(r);
  }
}
