/**
 * Issue 3, scenario 3: SIGSTOP the controller for 30 s while a job writes
 * 200 MiB of output, then SIGCONT. The agent must not buffer the flood in
 * memory (its peak RSS, VmHWM, stays under a generous bound; the figure is
 * printed) and nothing may be lost or reordered: the stored log equals what
 * the seeded generator wrote, stream by stream.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestDatabase, type TestDatabase } from "../helpers/db.js";
import { startAgent, type Proc } from "../helpers/procs.js";
import { floodExpected, firstDifference } from "../e2e/floodgen.js";
import { grep, jobJson, peakRss, sleep, spawnController, stopAgent, storedLog, submitWithRetry, summary, untilUptime, waitEnded, waitRun, type ChaosController } from "./harness.js";

const TOTAL = 200 * 1024 * 1024;
const STALL_MS = 30_000;
const RSS_BOUND = 300 * 1024 * 1024;
// The generator of test/fixtures/jobs/flood.yaml (reproduced by floodExpected), with a 200 MiB total.
const FLOOD = `
const total = ${TOTAL};
let seed = 42, written = 0;
const next = () => (seed = (seed * 1103515245 + 12345) >>> 0);
const fs = require("fs");
while (written < total) {
  const size = Math.min(total - written, 1 + (next() % 65536));
  const buf = Buffer.alloc(size);
  for (let i = 0; i < size; i++) buf[i] = next() >>> 24;
  fs.writeSync(next() % 3 === 0 ? 2 : 1, buf);
  written += size;
}
`;

const mib = (n: number): string => `${(n / 1024 / 1024).toFixed(1)} MiB`;

let db: TestDatabase;
let controller: ChaosController;
let agent: Proc | undefined;

beforeAll(async () => {
  db = await createTestDatabase();
  controller = await spawnController({ database: { databaseUrl: db.url }, extra: ["--heartbeat-interval", "500ms"] });
  agent = await startAgent(controller, { name: "stall-agent", slots: 1 });
});

afterAll(async () => {
  // A test that failed mid-stall must not leave the controller stopped.
  if (controller?.proc.exitCode === null) controller.proc.kill("SIGCONT");
  await stopAgent(agent);
  await controller?.stop();
  await db?.drop();
});

describe("SIGSTOP of the controller during a 200 MiB flood", () => {
  it("keeps the agent's memory bounded and delivers every byte in order after SIGCONT", async () => {
    const client = () => controller.client;
    // A controller that has been up a while (past its start-up wait), as in production.
    await untilUptime(controller);
    const run = await submitWithRetry(client, jobJson("stall-flood", { command: ["node", "-e", FLOOD] }), "stall-flood-1");
    const before = await waitRun(client, run.id, (r) => r.state === "running" && r.logChunks >= 20, "to be flooding", 60_000);
    const agentPid = agent!.proc.pid!;
    const rssBefore = peakRss(agentPid);

    controller.proc.kill("SIGSTOP");
    const stoppedAt = Date.now();
    let rssDuring = 0;
    try {
      // Sample while stopped, for the report; VmHWM keeps the peak anyway.
      while (Date.now() - stoppedAt < STALL_MS) {
        await sleep(1_000);
        rssDuring = Math.max(rssDuring, peakRss(agentPid));
      }
    } finally {
      controller.proc.kill("SIGCONT");
    }
    console.log(`[controller-stall] stopped the controller for ${Date.now() - stoppedAt} ms at ${before.logChunks} stored chunks; agent VmHWM ${mib(rssBefore)} before, ${mib(rssDuring)} by the end of the stall`);

    const ended = await waitEnded(client, run.id, 300_000).catch((err: Error) => {
      throw new Error(`${err.message}\ncontroller.log:\n${grep(controller.logFile, /warn|error|lost|agent/i).join("\n")}\nagent.log:\n${grep(agent!.logFile, /warn|error|connect/i).join("\n")}`);
    });
    const rssPeak = peakRss(agentPid);
    console.log(`[controller-stall] agent peak RSS (VmHWM): ${mib(rssPeak)} (bound ${mib(RSS_BOUND)}); run: ${JSON.stringify(summary(ended))}`);
    expect(ended).toMatchObject({ state: "succeeded", attempt: 1, exitCode: 0 });

    const want = floodExpected(TOTAL);
    const log = await storedLog(controller.client, run.id);
    const diffs = { stdout: firstDifference(log.stdout, want.stdout), stderr: firstDifference(log.stderr, want.stderr), seqGaps: log.seqGaps };
    console.log(`[controller-stall] stored ${log.entries} chunks: stdout ${mib(log.stdout.length)} / ${mib(want.stdout.length)}, stderr ${mib(log.stderr.length)} / ${mib(want.stderr.length)}, sequence gaps ${log.seqGaps}`);
    expect(diffs).toEqual({ stdout: undefined, stderr: undefined, seqGaps: 0 });
    expect(rssPeak).toBeLessThan(RSS_BOUND);
  }, 600_000);
});
