// Hello, Welcome and heartbeats over a real gRPC stream.
import os from "node:os";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { FakeController } from "./fake-controller.js";
import { startTestAgent, type TestAgent } from "./helpers.js";

describe("agent ↔ controller handshake", () => {
  let fake: FakeController;
  let ta: TestAgent | undefined;
  beforeEach(async () => {
    fake = await FakeController.start({ heartbeatIntervalMs: 100 });
  });
  afterEach(async () => {
    await ta?.dispose();
    await fake.stop();
  });

  it("sends Hello first, then heartbeats with real numbers at the Welcome interval", async () => {
    ta = await startTestAgent(fake, { labels: { os: "linux", pool: "ci" }, slots: 3 });
    const hb = await fake.waitFor((rs) => (rs.filter((r) => r.msg.$case === "heartbeat").length >= 3 ? true : undefined), "3 heartbeats");
    expect(hb).toBe(true);
    const first = fake.received[0]!.msg;
    expect(first.$case).toBe("hello");
    if (first.$case !== "hello") return;
    expect(first.value).toMatchObject({
      name: "test-agent",
      labels: { os: "linux", pool: "ci" },
      slots: 3,
      agentId: "",
      activeRuns: [],
    });
    expect(first.value.version).toMatch(/^\d+\.\d+\.\d+/);
    // Which one depends on the machine (kill.test.ts pins each); never empty.
    expect(["cgroup-v2", "cgroup-v1", "process-group"]).toContain(first.value.killMethod);
    for (const h of fake.messages("heartbeat")) {
      expect(h.cpuPercent).toBeGreaterThanOrEqual(0);
      expect(h.cpuPercent).toBeLessThanOrEqual(100);
      expect(h.memoryTotalBytes).toBe(os.totalmem());
      expect(h.memoryUsedBytes).toBeGreaterThan(0);
      expect(h.memoryUsedBytes).toBeLessThanOrEqual(h.memoryTotalBytes);
      expect(h.agentRssBytes).toBeGreaterThan(10 << 20);
      expect(h.running).toBe(0);
    }
    expect(ta.agent.agentId).toBe("agent-1");
  });

  it("counts running jobs in its heartbeats", async () => {
    ta = await startTestAgent(fake);
    fake.assign("hb", { script: "sleep 300" });
    await fake.waitFor((rs) => rs.find((r) => r.msg.$case === "heartbeat" && r.msg.value.running === 1), "a heartbeat with running=1");
    fake.cancel("hb", 1, 500);
    await fake.finished("hb");
    await fake.waitFor(() => (fake.messages("heartbeat").at(-1)?.running === 0 ? true : undefined), "running=0");
  });

  it("reconnects after the stream drops and says which agent it was", async () => {
    ta = await startTestAgent(fake);
    await fake.waitFor((rs) => rs.find((r) => r.msg.$case === "heartbeat"), "a heartbeat");
    fake.drop();
    const hello2 = await fake.waitFor((rs) => rs.find((r) => r.conn === 2 && r.msg.$case === "hello")?.msg, "a second Hello");
    expect(hello2.$case === "hello" && hello2.value.agentId).toBe("agent-1");
    // The first dial presents the join token; the Welcome's session token is presented from the next dial on.
    expect(process.env.HODEI_AGENT_TOKEN).toMatch(/^hodeij_/);
    expect(fake.sessionTokens).toEqual([process.env.HODEI_AGENT_TOKEN, "s3cr3t"]);
  });

  it("keeps redialling a controller that is not there yet", async () => {
    const port = fake.port;
    await fake.stop();
    ta = await startTestAgent(fake, { backoff: { initialMs: 50, maxMs: 200 } }, false);
    await new Promise((r) => setTimeout(r, 600));
    fake = await FakeController.start({ heartbeatIntervalMs: 100 }, port);
    await fake.waitFor((rs) => rs.find((r) => r.msg.$case === "hello"), "Hello after the controller came up");
  });
});
