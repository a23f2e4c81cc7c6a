// Adaptive batching under a flood; the disk spool when the controller is gone;
// pausing when even the spool is full. (The RSS bound: spool-rss.test.ts.)
import { execFileSync } from "node:child_process";
import { existsSync, readdirSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { FinishReason } from "../../../proto/gen/hodei/v1/common.js";
import { FakeController } from "./fake-controller.js";
import { eventually, sleep, startTestAgent, type TestAgent } from "./helpers.js";

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

  it("spools to disk while the controller is gone: the job runs to the end, every byte arrives after it returns", async () => {
    fake = await FakeController.start();
    ta = await startTestAgent(fake, { maxUnackedLogBytes: 256 * 1024, backoff: { initialMs: 50, maxMs: 300 } });
    const expected = execFileSync("seq", ["1", "1000000"], { maxBuffer: 16 << 20 }); // 6.9 MB
    const file = join(ta.workDir, "spool-input.txt");
    const done = join(ta.workDir, "spool-done");
    writeFileSync(file, expected);
    fake.assign("gone", { script: 'echo start\nwhile [ ! -f "$GO" ]; do sleep 0.02; done\ncat "$F"\ntouch "$DONE"', env: { F: file, GO: done + ".go", DONE: done } });
    await fake.waitFor(() => (fake.text("gone") === "start\n" ? true : undefined), "the first line");
    const port = fake.port;
    await fake.stop();
    writeFileSync(done + ".go", "");
    // Nobody to send to: the job is not held back, the disk takes what memory cannot.
    await eventually(() => existsSync(done), "the job to write everything", 30_000);
    await eventually(() => ta!.agent.runs()[0]?.finished === true, "the run to finish");
    const spooled = spoolBytes(ta.workDir);
    expect(spooled).toBeGreaterThan(expected.length - (1 << 20));

    fake = await FakeController.start({}, port);
    const finished = await fake.finished("gone", 1, 30_000);
    expect(finished.exitCode).toBe(0);
    expect(fake.output("gone").equals(Buffer.concat([Buffer.from("start\n"), expected]))).toBe(true);
    await eventually(() => ta!.agent.runs().length === 0, "the run to be forgotten");
    expect(readdirSync(join(ta.workDir, "spool"))).toEqual([]); // fully acknowledged: no file left
  });

  it("pauses the job's output only when memory and the spool are both full, and resumes on ack", async () => {
    fake = await FakeController.start({ autoAck: false });
    ta = await startTestAgent(fake, { maxUnackedLogBytes: 256 * 1024, maxSpoolBytes: 512 * 1024 });
    // 4 MiB of output: without acks the agent may hold ~256 KiB in memory and
    // ~512 KiB (plus a segment) on disk, plus what the pipes buffer.
    fake.assign("paused", { script: "head -c 4194304 /dev/zero\necho done >&2" });
    await sleep(1_500);
    const held = fake.batches("paused").reduce((n, b) => n + b.chunks.reduce((m, c) => m + c.data.length, 0), 0);
    expect(held).toBeGreaterThan(512 * 1024);
    expect(held).toBeLessThan(2 << 20);
    expect(fake.messages("runFinished")).toHaveLength(0);
    // Ack as the controller would, and the job runs to the end.
    const acker = setInterval(() => fake.ack("paused"), 20);
    try {
      const done = await fake.finished("paused", 1, 30_000);
      expect(done.exitCode).toBe(0);
      expect(fake.output("paused").length).toBe(4194304 + "done\n".length);
      fake.ack("paused");
      await eventually(() => spoolBytes(ta!.workDir) === 0, "the spool to be deleted");
    } finally {
      clearInterval(acker);
    }
  });
});

/** Bytes in <workDir>/spool (0 when it does not exist). */
function spoolBytes(workDir: string): number {
  const dir = join(workDir, "spool");
  if (!existsSync(dir)) return 0;
  return readdirSync(dir).reduce((n, f) => n + statSync(join(dir, f)).size, 0);
}
