/**
 * Issue 3, scenario 7: SIGTERM to an agent with a running job. By default the
 * job finishes, the agent exits 0 and the run succeeds with its whole log;
 * with `--drain-timeout 1s` the run ends `cancelled`, its message saying the
 * agent shut down.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestDatabase, type TestDatabase } from "../helpers/db.js";
import { startAgent, type Proc } from "../helpers/procs.js";
import { grep, jobJson, spawnController, stopAgent, storedLog, submitWithRetry, summary, tail, waitEnded, waitRun, type ChaosController } from "./harness.js";

const LINES = 25;
const expected = Array.from({ length: LINES }, (_, i) => `line ${i + 1}\n`).join("");

let db: TestDatabase;
let controller: ChaosController;
const agents: Proc[] = [];

beforeAll(async () => {
  db = await createTestDatabase();
  controller = await spawnController({ database: { databaseUrl: db.url }, extra: ["--heartbeat-interval", "500ms"] });
});

afterAll(async () => {
  await Promise.all(agents.map(stopAgent));
  await controller?.stop();
  await db?.drop();
});

/** The agent's exit code, or a failure naming its log when it does not exit in time. */
async function exitOf(agent: Proc, timeoutMs: number): Promise<number | null> {
  const code = await Promise.race([agent.exited, new Promise<"timeout">((r) => setTimeout(() => r("timeout"), timeoutMs))]);
  if (code === "timeout") throw new Error(`the agent did not exit within ${timeoutMs} ms of SIGTERM; agent.log:\n${tail(agent.logFile, 20)}`);
  return code;
}

describe("SIGTERM to an agent with a running job", () => {
  it("lets the job finish, exits 0, and the run succeeds with its whole log", async () => {
    const client = () => controller.client;
    const agent = await startAgent(controller, { name: "drain-patient", slots: 1 });
    agents.push(agent);
    const run = await submitWithRetry(client, jobJson("drain-finish", { run: `for i in $(seq 1 ${LINES}); do echo "line $i"; sleep 0.1; done\n` }), "drain-finish-1");
    await waitRun(client, run.id, (r) => r.state === "running" && r.logChunks >= 2, "to run with some output");
    agent.proc.kill("SIGTERM");
    const code = await exitOf(agent, 60_000);
    const ended = await waitEnded(client, run.id, 30_000);
    console.log(`[agent-drain] default drain: agent exited ${code}; run ${JSON.stringify(summary(ended))}`);
    expect(code).toBe(0);
    expect(ended).toMatchObject({ state: "succeeded", attempt: 1, exitCode: 0, agentName: "drain-patient" });
    expect((await storedLog(controller.client, run.id)).stdout.toString()).toBe(expected);
  }, 120_000);

  it("with --drain-timeout 1s cancels the job: the run ends cancelled, saying why", async () => {
    const client = () => controller.client;
    const agent = await startAgent(controller, { name: "drain-hasty", slots: 1, extra: ["--drain-timeout", "1s"] });
    agents.push(agent);
    const run = await submitWithRetry(client, jobJson("drain-cancel", { run: "echo started\nsleep 60\necho 'never printed'\n" }), "drain-cancel-1");
    await waitRun(client, run.id, (r) => r.state === "running" && r.logChunks >= 1, "to run");
    agent.proc.kill("SIGTERM");
    const code = await exitOf(agent, 60_000);
    const ended = await waitEnded(client, run.id, 30_000).catch((err: Error) => {
      throw new Error(`${err.message}\nagent.log:\n${grep(agent.logFile, /drain|cancel|finish|going/i).join("\n")}`);
    });
    console.log(`[agent-drain] --drain-timeout 1s: agent exited ${code}; run ${JSON.stringify(summary(ended))}`);
    expect(code).toBe(0);
    expect(ended).toMatchObject({ state: "cancelled", reason: "cancelled", agentName: "drain-hasty" });
    expect(ended.message).toMatch(/shut(ting)? down|drain/i);
    expect((await storedLog(controller.client, run.id)).stdout.toString()).toBe("started\n");
  }, 120_000);
});
