// timeout and killGrace beyond Node's timer range (2^31-1 ms, about 24.8
// days): `timeout: 25d` used to end a run timed_out within milliseconds.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FinishReason } from "../../../proto/gen/hodei/v1/common.js";
import { FakeController } from "./fake-controller.js";
import { startTestAgent, type TestAgent } from "./helpers.js";

const DAYS_25 = 25 * 86_400_000;

describe("durations longer than a Node timer", () => {
  let fake: FakeController;
  let ta: TestAgent;
  beforeAll(async () => {
    fake = await FakeController.start();
    ta = await startTestAgent(fake);
  });
  afterAll(async () => {
    await ta.dispose();
    await fake.stop();
  });

  it("timeout: 25d lets a short job finish on its own", async () => {
    fake.assign("long-timeout", { script: "sleep 0.5\necho done", timeoutMs: DAYS_25 });
    expect(await fake.finished("long-timeout")).toMatchObject({ reason: FinishReason.FINISH_REASON_EXITED, exitCode: 0 });
  });

  it("killGrace: 25d gives a cancelled job its grace instead of an immediate SIGKILL", async () => {
    fake.assign("long-grace", { script: "trap 'sleep 0.3; exit 3' TERM\necho ready\nsleep 30 & wait", killGraceMs: DAYS_25 });
    await fake.waitFor((r) => r.find((m) => m.msg.$case === "logBatch" && m.msg.value.runId === "long-grace"), "the job to start");
    fake.cancel("long-grace");
    expect(await fake.finished("long-grace")).toMatchObject({ reason: FinishReason.FINISH_REASON_CANCELLED, exitCode: 3, signal: "" });
  });
});
