/**
 * The built `hodei` reads durations and sizes with the one grammar, from the
 * shared table (test/fixtures/grammar.ts): every refused row is refused by
 * `hodei agents drain --deadline` and `hodei agent --max-spool` with the
 * table's words and exit 2, before anything connects; accepted values travel
 * end to end (a --deadline reaches the agent in milliseconds).
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { accepts, DURATIONS, SIZES } from "../fixtures/grammar.js";
import { eventually, hodei, hodeiJson, startAgent, startController, tempDir, type ControllerProc, type Proc } from "../helpers/procs.js";

// oclif wraps messages to the terminal width and prefixes lines with "›".
const oneLine = (s: string): string => s.replace(/\s*›\s*/g, " ").replace(/\s+/g, " ");
const env = { OCLIF_COLUMNS: "400" };

describe("refused values exit 2 with the grammar's message", () => {
  it.each(DURATIONS.filter((r) => !accepts(r)).map((r) => [JSON.stringify(r.input), r] as const))("hodei agents drain --deadline %s", async (_, row) => {
    const r = await hodei(["agents", "drain", "any", "--deadline", row.input, "--controller", "127.0.0.1:1"], { env });
    expect(r.code).toBe(2);
    expect(oneLine(r.stderr)).toContain("Parsing --deadline");
    if (!accepts(row)) expect(oneLine(r.stderr)).toContain(oneLine(row.error));
  });

  it.each(SIZES.filter((r) => !accepts(r)).map((r) => [JSON.stringify(r.input), r] as const))("hodei agent --max-spool %s", async (_, row) => {
    const r = await hodei(["agent", "--controller", "127.0.0.1:1", "--max-spool", row.input], { env, timeoutMs: 20_000 });
    expect(r.code).toBe(2);
    if (!accepts(row)) expect(oneLine(r.stderr)).toContain(oneLine(row.error));
  });

  it("hodei controller --heartbeat-interval 5000 (milliseconds, once) is refused, saying how to write it", async () => {
    const r = await hodei(["controller", "--data-dir", join(tempDir("hodei-grammar-"), "db"), "--heartbeat-interval", "5000"], { env });
    expect(r.code).toBe(2);
    expect(oneLine(r.stderr)).toContain('invalid duration "5000": missing unit: write "5000s" for seconds or "5000ms" for milliseconds');
  });
});

describe("accepted values reach the processes", () => {
  let controller: ControllerProc;
  let agent: Proc;

  beforeAll(async () => {
    controller = await startController({ dataDir: join(tempDir("hodei-grammar-"), "db") }, ["--heartbeat-interval", "500ms", "--unschedulable-after", "1h30m"]);
    agent = await startAgent(controller, { name: "grammar-1", slots: 1, extra: ["--drain-timeout", "1.5h", "--max-spool", "100M", "--max-unacked-logs", "1Mi"] });
  });

  afterAll(async () => {
    await agent?.stop();
    await controller?.stop();
  });

  it("hodei agents drain --deadline 1m30s hands the agent 90000 ms", async () => {
    const drained = await hodeiJson<{ name: string; state: string }>(["agents", "drain", "grammar-1", "--deadline", "1m30s", "--controller", controller.address]);
    expect(drained).toMatchObject({ name: "grammar-1", state: "draining" });
    const line = await eventually(async () => readFileSync(agent.logFile, "utf8").split("\n").find((l) => l.includes("draining: no new work")), "the agent to log its drain");
    expect(JSON.parse(line)).toMatchObject({ deadlineMs: 90_000 });
  });
});
