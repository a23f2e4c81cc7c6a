/**
 * A controller restart while an agent drains: the agent got SIGTERM with a long
 * --drain-timeout while running a job, the controller is killed and started
 * again on the same database and address, runs are queued meanwhile. The agent
 * reconnects saying it is draining (Hello.draining): it finishes its run and is
 * given none of the queued ones; they wait for a normal agent, and none fails
 * as infrastructure.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestDatabase, type TestDatabase } from "../helpers/db.js";
import { eventually, startAgent, startController, type ControllerProc, type Proc } from "../helpers/procs.js";

const job = (name: string, run: string): string => JSON.stringify({ apiVersion: "hodei.dev/v1", kind: "Job", metadata: { name }, spec: { run } });

let db: TestDatabase;
let controller: ControllerProc;
const agents: Proc[] = [];

beforeAll(async () => {
  db = await createTestDatabase();
  controller = await startController({ databaseUrl: db.url }, ["--heartbeat-interval", "500ms"]);
});

afterAll(async () => {
  for (const a of agents) {
    a.proc.kill("SIGKILL");
    await a.exited;
  }
  await controller?.stop();
  await db?.drop();
});

describe("a draining agent across a controller restart", () => {
  it("finishes its run and takes none of the runs queued meanwhile; a normal agent runs them", async () => {
    const drainer = await startAgent(controller, { name: "drainer", slots: 2, extra: ["--drain-timeout", "5m"] });
    agents.push(drainer);
    const long = await controller.client.submitRun({ jobJson: job("long", "echo begin\nsleep 6\necho end"), source: "t", idempotencyKey: "" });
    await eventually(async () => ((await controller.client.getRun(long.id)).state === "running" ? true : undefined), "the long run to start");

    drainer.proc.kill("SIGTERM");
    const address = controller.address;
    await controller.stop("SIGKILL");
    controller = await startController({ databaseUrl: db.url }, ["--heartbeat-interval", "500ms"], { listen: address });
    const queued = [];
    for (let i = 0; i < 3; i++) queued.push(await controller.client.submitRun({ jobJson: job(`queued-${i}`, "echo ok"), source: "t", idempotencyKey: "" }));

    // The agent comes back saying it drains, finishes its run, and leaves.
    await eventually(async () => ((await controller.client.listAgents()).agents.find((a) => a.name === "drainer")?.state === "draining" ? true : undefined), "the agent to reconnect as draining");
    const ended = await eventually(async () => {
      const r = await controller.client.getRun(long.id);
      return ["succeeded", "failed", "cancelled", "timed_out"].includes(r.state) ? r : undefined;
    }, "the long run to end", 60_000);
    expect(ended).toMatchObject({ state: "succeeded", attempt: 1, agentName: "drainer" });
    const code = await Promise.race([drainer.exited, new Promise<"running">((r) => setTimeout(() => r("running"), 30_000))]);
    expect(code).toBe(0);

    // Nothing was given to it: every queued run is still queued at attempt 1, never assigned.
    for (const q of queued) {
      const r = await controller.client.getRun(q.id);
      expect(r).toMatchObject({ state: "queued", attempt: 1, agentName: "" });
      expect(r.attempts.map((a) => ({ attempt: a.attempt, state: a.state, agent: a.agentName }))).toEqual([{ attempt: 1, state: "queued", agent: "" }]);
    }

    // A normal agent runs them all, first time.
    const normal = await startAgent(controller, { name: "normal", slots: 2 });
    agents.push(normal);
    for (const q of queued) {
      const r = await eventually(async () => {
        const x = await controller.client.getRun(q.id);
        return x.state === "succeeded" || x.state === "failed" ? x : undefined;
      }, `run ${q.id} to end`);
      expect(r).toMatchObject({ state: "succeeded", attempt: 1, agentName: "normal" });
      expect(r.attempts.every((a) => a.reason !== "infrastructure")).toBe(true);
    }
  }, 120_000);
});
