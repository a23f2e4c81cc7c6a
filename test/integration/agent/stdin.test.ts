// A -i job's stdin on the agent: a real job process, fed over real gRPC from
// the fake controller's ReadStdin. The bytes arrive in order across a broken
// stream (the agent asks again from the next sequence it lacks); a job that
// closes its stdin early ends normally and the agent carries on; without
// ExecSpec.stdin the job's stdin is closed and nothing is asked for.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createHash, randomBytes } from "node:crypto";
import { FinishReason } from "../../../proto/gen/hodei/v1/common.js";
import { FakeController } from "./fake-controller.js";
import { startTestAgent, type TestAgent } from "./helpers.js";

describe("a job's stdin (ExecSpec.stdin)", () => {
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

  const requests = (runId: string) => fake.stdinRequests.filter((r) => r.runId === runId).map((r) => [r.attempt, r.fromSeq]);

  it("writes the chunks to the job in order, resumes from the next sequence after a broken stream, and closes stdin at eof", async () => {
    const chunks = [Buffer.from("one\n"), Buffer.from("two\n"), Buffer.from("three\n"), Buffer.alloc(0)];
    fake.stdin.set("resume", { chunks, breakAfter: 2 });
    fake.assign("resume", { script: "cat; echo end-of-input", stdin: true });
    expect(await fake.finished("resume")).toMatchObject({ reason: FinishReason.FINISH_REASON_EXITED, exitCode: 0 });
    expect(fake.text("resume")).toBe("one\ntwo\nthree\nend-of-input\n");
    expect(requests("resume")).toEqual([[1, 0], [1, 2]]);
  });

  it("several MiB reach a job that reads slower than they come, whole (sha256)", async () => {
    const chunks = Array.from({ length: 12 }, () => randomBytes(512 * 1024));
    fake.stdin.set("big", { chunks: [...chunks, Buffer.alloc(0)] });
    fake.assign("big", { script: "sleep 0.5; sha256sum | cut -d' ' -f1", stdin: true });
    expect(await fake.finished("big")).toMatchObject({ exitCode: 0 });
    expect(fake.text("big").trim()).toBe(createHash("sha256").update(Buffer.concat(chunks)).digest("hex"));
  });

  it("a job that closes its stdin early (EPIPE for the agent) ends as it exits, and the agent runs the next job", async () => {
    fake.stdin.set("early", { chunks: [...Array.from({ length: 16 }, () => Buffer.alloc(1 << 20, 120)), Buffer.alloc(0)] });
    fake.assign("early", { script: "head -c 3; echo; exit 4", stdin: true });
    expect(await fake.finished("early")).toMatchObject({ reason: FinishReason.FINISH_REASON_EXITED, exitCode: 4 });
    expect(fake.text("early")).toBe("xxx\n");
    fake.assign("after-early", { script: "echo still here" });
    expect(await fake.finished("after-early")).toMatchObject({ exitCode: 0 });
    expect(fake.text("after-early")).toBe("still here\n");
  });

  it("a refusal (NOT_FOUND: the controller has no stdin for it) closes the job's stdin instead of retrying forever", async () => {
    fake.assign("refused", { script: "cat; echo closed", stdin: true });
    expect(await fake.finished("refused")).toMatchObject({ exitCode: 0 });
    expect(fake.text("refused")).toBe("closed\n");
    expect(requests("refused")).toEqual([[1, 0]]);
  });

  it("without stdin in the spec, the job's stdin is closed and ReadStdin is never called", async () => {
    fake.stdin.set("closed", { chunks: [Buffer.from("must not arrive"), Buffer.alloc(0)] });
    fake.assign("closed", { script: "cat; echo nothing-read" });
    expect(await fake.finished("closed")).toMatchObject({ exitCode: 0 });
    expect(fake.text("closed")).toBe("nothing-read\n");
    expect(requests("closed")).toEqual([]);
  });
});
