// Adaptive batching under a flood, and the memory bound when acks stop.
import { execFileSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { FinishReason } from "../../../proto/gen/hodei/v1/common.js";
import { FakeController } from "./fake-controller.js";
import { sleep, startTestAgent, type TestAgent } from "./helpers.js";

describe("log flood", () => {
  let fake: FakeController;
  let ta: TestAgent | undefined;
  afterEach(async () => {
    await ta?.dispose();
    await fake.stop();
  });

  it("delivers 20 MB complete and in order, in far fewer batches than chunks", async () => {
    fake = await FakeController.start();
    ta = await startTestAgent(fake);
    const expected = execFileSync("seq", ["1", "2700000"], { maxBuffer: 64 << 20 });
    expect(expected.length).toBeGreaterThan(20_000_000);
    // cat of a cached file outruns the agent, whatever else the machine is doing: a true flood.
    const file = join(ta.workDir, "flood.txt");
    writeFileSync(file, expected);
    fake.assign("flood", { command: ["cat", file] });
    const done = await fake.finished("flood", 1, 60_000);
    expect(done).toMatchObject({ reason: FinishReason.FINISH_REASON_EXITED, exitCode: 0 });
    const got = fake.output("flood");
    expect(got.length).toBe(expected.length);
    expect(got.equals(expected)).toBe(true);
    const batches = fake.batches("flood").length;
    console.log(`flood: ${done.logChunks} chunks in ${batches} batches`);
    expect(batches).toBeLessThan(done.logChunks / 4);
    for (const b of fake.batches("flood")) {
      expect(b.chunks.reduce((n, c) => n + c.data.length, 0)).toBeLessThanOrEqual(1 << 20);
    }
  });

  it("a lone line goes out at once, without waiting for more", async () => {
    fake = await FakeController.start();
    ta = await startTestAgent(fake);
    fake.assign("lone", { script: "echo first\nsleep 30" });
    const t0 = Date.now();
    await fake.waitFor(() => (fake.text("lone") === "first\n" ? true : undefined), "the first line");
    expect(Date.now() - t0).toBeLessThan(1_500);
    fake.cancel("lone");
    await fake.finished("lone");
  });

  it("pauses the job's output when unacknowledged bytes pass the limit, and resumes on ack", async () => {
    fake = await FakeController.start({ autoAck: false });
    ta = await startTestAgent(fake, { maxUnackedLogBytes: 256 * 1024 });
    // 4 MiB of output: without acks the agent may hold ~256 KiB plus what the pipes buffer.
    fake.assign("paused", { script: "head -c 4194304 /dev/zero\necho done >&2" });
    await sleep(1_500);
    const held = fake.batches("paused").reduce((n, b) => n + b.chunks.reduce((m, c) => m + c.data.length, 0), 0);
    expect(held).toBeGreaterThan(0);
    expect(held).toBeLessThan(1 << 20);
    expect(fake.messages("runFinished")).toHaveLength(0);
    // Ack as the controller would, and the job runs to the end.
    const acker = setInterval(() => fake.ack("paused"), 20);
    try {
      const done = await fake.finished("paused", 1, 30_000);
      expect(done.exitCode).toBe(0);
      expect(fake.output("paused").length).toBe(4194304 + "done\n".length);
      fake.ack("paused");
    } finally {
      clearInterval(acker);
    }
  });
});
