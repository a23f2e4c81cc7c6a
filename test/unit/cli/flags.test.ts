/**
 * Every duration and size flag, against the shared table
 * (test/fixtures/grammar.ts): oclif's own parser runs each command's real
 * flag definitions, as `hodei agent`, `hodei controller` and `hodei agents
 * drain` do before anything starts. The built CLI is covered end to end in
 * test/e2e/grammar.test.ts.
 */
import { Parser } from "@oclif/core";
import { afterEach, describe, expect, it } from "vitest";
import AgentCommand from "../../../cli/commands/agent.js";
import AgentsDrain from "../../../cli/commands/agents/drain.js";
import ControllerCommand from "../../../cli/commands/controller.js";
import { accepts, DURATIONS, SIZES, type GrammarRow } from "../../fixtures/grammar.js";

type Flags = Parameters<typeof Parser.parse>[1]["flags"];

const FLAGS: Array<{ flag: string; rows: readonly GrammarRow[]; flags: Flags; required: string[] }> = [
  { flag: "drain-timeout", rows: DURATIONS, flags: AgentCommand.flags, required: ["--controller", "127.0.0.1:7070"] },
  { flag: "max-spool", rows: SIZES, flags: AgentCommand.flags, required: ["--controller", "127.0.0.1:7070"] },
  { flag: "max-unacked-logs", rows: SIZES, flags: AgentCommand.flags, required: ["--controller", "127.0.0.1:7070"] },
  { flag: "heartbeat-interval", rows: DURATIONS, flags: ControllerCommand.flags, required: [] },
  { flag: "unschedulable-after", rows: DURATIONS, flags: ControllerCommand.flags, required: [] },
  { flag: "schedule-catch-up", rows: DURATIONS, flags: ControllerCommand.flags, required: [] },
  { flag: "deadline", rows: DURATIONS, flags: AgentsDrain.flags, required: [] },
];

const parse = async (flags: Flags, argv: string[]): Promise<Record<string, unknown>> =>
  (await Parser.parse(argv, { flags, strict: true })).flags as Record<string, unknown>;

describe.each(FLAGS)("--$flag", ({ flag, rows, flags, required }) => {
  it.each(rows.map((r) => [JSON.stringify(r.input), r] as const))("%s", async (_, row) => {
    const parsing = parse(flags, [...required, `--${flag}`, row.input]);
    if (accepts(row)) {
      expect((await parsing)[flag]).toBe(row.value);
    } else {
      const err = (await parsing.then(() => undefined, (e: unknown) => e)) as Error & { oclif?: { exit?: number } };
      expect(err, "the flag was accepted").toBeInstanceOf(Error);
      expect(err.message).toContain(`Parsing --${flag}`);
      expect(err.message).toContain(row.error);
      expect(err.oclif?.exit).toBe(2); // a usage error, like --slots abc
    }
  });
});

describe("flags from the environment", () => {
  afterEach(() => {
    delete process.env["HODEI_DRAIN_TIMEOUT"];
    delete process.env["HODEI_MAX_SPOOL"];
  });

  it("follow the same grammar", async () => {
    process.env["HODEI_DRAIN_TIMEOUT"] = "45";
    await expect(parse(AgentCommand.flags, ["--controller", "h:1"])).rejects.toThrow('invalid duration "45": missing unit');
    process.env["HODEI_DRAIN_TIMEOUT"] = "45s";
    process.env["HODEI_MAX_SPOOL"] = "100M";
    expect(await parse(AgentCommand.flags, ["--controller", "h:1"])).toMatchObject({ "drain-timeout": 45_000, "max-spool": 100_000_000 });
  });

  it("leave defaults to the options compiler when absent", async () => {
    const flags = await parse(AgentCommand.flags, ["--controller", "h:1"]);
    expect(flags["drain-timeout"]).toBeUndefined();
    expect(flags["max-spool"]).toBeUndefined();
  });
});
