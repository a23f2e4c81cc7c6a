/**
 * Issue 3, scenario 2: kill -9 an agent mid-run. The run (retries: { limit: 2 })
 * is retried on another agent and succeeds; its first attempt ended `failed`
 * with reason `infrastructure`. How long the controller took to notice (in
 * its steady state, past its start-up wait) is printed, not asserted.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestDatabase, type TestDatabase } from "../helpers/db.js";
import { startAgent, type Proc } from "../helpers/procs.js";
import { grep, jobJson, kill9, spawnController, stopAgent, storedLog, submitWithRetry, summary, untilUptime, waitEnded, waitRun, type ChaosController } from "./harness.js";

const HEARTBEAT_MS = 500;
const LINES = 40;
// Attempt 1 must still be running when the victim dies, however slowly a loaded machine starts the
// survivor: it sleeps on after its lines (the kill ends it); attempt 2 prints its lines and exits.
const SCRIPT = `for i in $(seq 1 ${LINES}); do echo "attempt $HODEI_ATTEMPT line $i"; sleep 0.1; done\nif [ "$HODEI_ATTEMPT" = 1 ]; then sleep 30; fi\n`;
const expected = (attempt: number): string => Array.from({ length: LINES }, (_, i) => `attempt ${attempt} line ${i + 1}\n`).join("");

let db: TestDatabase;
let controller: ChaosController;
let victim: Proc | undefined;
let survivor: Proc | undefined;

beforeAll(async () => {
  db = await createTestDatabase();
  controller = await spawnController({ database: { databaseUrl: db.url }, extra: ["--heartbeat-interval", `${HEARTBEAT_MS}ms`] });
  victim = await startAgent(controller, { name: "victim", slots: 1 });
});

afterAll(async () => {
  await stopAgent(victim);
  await stopAgent(survivor);
  await controller?.stop();
  await db?.drop();
});

describe("kill -9 of an agent mid-run", () => {
  it("retries the run on another agent, where it succeeds; the first attempt ended failed/infrastructure", async () => {
    const client = () => controller.client;
    // Steady state: the controller is past its start-up wait (which would add up to 12 s to the detection).
    await untilUptime(controller);
    const job = jobJson("agent-kill", { run: SCRIPT, retries: { limit: 2, backoff: "100ms" } });
    const run = await submitWithRetry(client, job, "agent-kill-1");
    // Only the victim is connected: the first attempt runs there.
    await waitRun(client, run.id, (r) => r.state === "running" && r.logChunks >= 3, "to run on the victim with some output");
    survivor = await startAgent(controller, { name: "survivor", slots: 1 });

    const killedAt = Date.now();
    await kill9(victim!);
    const retried = await waitRun(client, run.id, (r) => r.attempt >= 2 || (r.state !== "running" && r.state !== "assigned"), "to notice the agent is gone", 60_000);
    const noticedAt = Date.now();
    const first = retried.attempts.find((a) => a.attempt === 1);
    console.log(
      `[agent-kill] detection: the run left attempt 1 ${noticedAt - killedAt} ms after kill -9 (polled every 50 ms)` +
        (first?.finishedAtMs ? `; attempt 1 finished_at is ${first.finishedAtMs - killedAt} ms after it` : "; attempt 1 has no finished_at") +
        ` (heartbeat ${HEARTBEAT_MS} ms)`,
    );

    const ended = await waitEnded(client, run.id, 60_000).catch((err: Error) => {
      throw new Error(`${err.message}\ncontroller.log:\n${grep(controller.logFile, /agent|attempt|retry|lost/i).join("\n")}`);
    });
    console.log(`[agent-kill] run: ${JSON.stringify(summary(ended))}`);
    expect(ended).toMatchObject({ state: "succeeded", attempt: 2, agentName: "survivor", exitCode: 0 });
    expect(ended.attempts.map((a) => ({ attempt: a.attempt, state: a.state, reason: a.reason, agent: a.agentName }))).toEqual([
      { attempt: 1, state: "failed", reason: "infrastructure", agent: "victim" },
      { attempt: 2, state: "succeeded", reason: "exited", agent: "survivor" },
    ]);
    // The retry's log is its own, complete.
    expect((await storedLog(controller.client, run.id, 2)).stdout.toString()).toBe(expected(2));
  }, 180_000);
});
