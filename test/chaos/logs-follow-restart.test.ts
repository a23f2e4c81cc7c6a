/**
 * `hodei logs -f` on a running job shows everything from byte 0 and then
 * follows it to the end, across a kill -9 and restart of the controller.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { spawn } from "node:child_process";
import { createTestDatabase } from "../helpers/db.js";
import { HODEI, ROOT, startAgent, type Proc } from "../helpers/procs.js";
import { jobJson, kill9, sleep, spawnController, stopAgent, waitRun, type ChaosController } from "./harness.js";

let db: Awaited<ReturnType<typeof createTestDatabase>>;
let controller: ChaosController;
let agent: Proc | undefined;

beforeAll(async () => {
  db = await createTestDatabase();
  controller = await spawnController({ database: { databaseUrl: db.url }, extra: ["--heartbeat-interval", "500ms"] });
  agent = await startAgent(controller, { name: "follow-agent", slots: 1 });
});

afterAll(async () => {
  await stopAgent(agent);
  await controller?.stop();
  await db?.drop();
});

describe("hodei logs -f across a controller restart", () => {
  it("prints every line exactly once, in order, and exits 0 when the run ends", async () => {
    const lines = 60;
    const run = await controller.client.submitRun({
      jobJson: jobJson("follow-me", { run: `for i in $(seq 1 ${lines}); do echo "line $i"; sleep 0.1; done` }),
      source: "test",
      idempotencyKey: "follow-me-1",
    });
    await waitRun(() => controller.client, run.id, (r) => r.logChunks >= 5, "a few lines");
    const reader = spawn(process.execPath, [HODEI, "logs", run.id, "-f", "--controller", controller.address], { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    reader.stdout.on("data", (d: Buffer) => (out += d.toString()));
    const exited = new Promise<number | null>((resolve) => reader.on("close", resolve));

    await sleep(1_000);
    const address = controller.address;
    await kill9(controller);
    await sleep(1_500);
    controller = await spawnController({ database: { databaseUrl: db.url }, listen: address, extra: ["--heartbeat-interval", "500ms"] });

    expect(await exited).toBe(0);
    expect(out).toBe(Array.from({ length: lines }, (_, i) => `line ${i + 1}\n`).join(""));
    expect((await controller.client.getRun(run.id)).state).toBe("succeeded");
  });
});
