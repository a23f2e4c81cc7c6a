// A broken stream or a restarted controller loses no run, byte or result.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { FinishReason } from "../../../proto/gen/hodei/v1/common.js";
import { FakeController } from "./fake-controller.js";
import { eventually, sleep, startTestAgent, type TestAgent } from "./helpers.js";

// Prints "one", waits for the test to create $GO, prints "two".
const GATED = 'echo one\nwhile [ ! -f "$GO" ]; do sleep 0.05; done\necho two';

describe("reconnecting", () => {
  let fake: FakeController;
  let ta: TestAgent | undefined;
  let scratch: string;
  beforeEach(async () => {
    scratch = mkdtempSync(join(tmpdir(), "hodei-reconnect-test-"));
    fake = await FakeController.start({ autoAck: false });
  });
  afterEach(async () => {
    await ta?.dispose();
    await fake.stop();
    rmSync(scratch, { recursive: true, force: true });
  });

  const helloOn = (conn: number) =>
    fake.waitFor((rs) => rs.find((r) => r.conn === conn && r.msg.$case === "hello")?.msg, `Hello on stream ${conn}`).then((m) =>
      m.$case === "hello" ? m.value : Promise.reject(new Error("not a Hello")),
    );

  it("keeps the job running, lists it in Hello and resends unacknowledged chunks from the acked sequence", async () => {
    ta = await startTestAgent(fake);
    const go = join(scratch, "go");
    fake.assign("r1", { script: GATED, env: { GO: go } });
    await fake.waitFor(() => (fake.text("r1") === "one\n" ? true : undefined), "first line");
    fake.drop();

    const hello = await helloOn(2);
    expect(hello.agentId).toBe("agent-1");
    expect(hello.activeRuns).toEqual([{ runId: "r1", attempt: 1, nextSeq: 1, finished: false }]);
    const resent = await fake.waitFor((rs) => rs.find((r) => r.conn === 2 && r.msg.$case === "logBatch")?.msg, "resent batch");
    expect(resent.$case === "logBatch" && resent.value.firstSeq).toBe(0);
    // RunStarted was never confirmed by a LogAck, so it is repeated on the new stream.
    expect(fake.received.some((r) => r.conn === 2 && r.msg.$case === "runStarted")).toBe(true);

    fake.ack("r1");
    writeFileSync(go, "");
    const done = await fake.finished("r1");
    expect(done).toMatchObject({ reason: FinishReason.FINISH_REASON_EXITED, exitCode: 0, logChunks: 2 });
    expect(fake.text("r1")).toBe("one\ntwo\n");
    // Once the controller acknowledges everything after RunFinished, the agent forgets the run.
    fake.ack("r1");
    await eventually(() => ta!.agent.runs().length === 0, "the run to be forgotten");
  });

  it("after an ack, resends only what follows it", async () => {
    ta = await startTestAgent(fake);
    const go = join(scratch, "go");
    fake.assign("r2", { script: GATED, env: { GO: go } });
    await fake.waitFor(() => (fake.text("r2") === "one\n" ? true : undefined), "first line");
    fake.ack("r2");
    await sleep(300); // let the ack reach the agent (its state is not visible from here)
    writeFileSync(go, "");
    await fake.finished("r2");
    fake.drop();
    const hello = await helloOn(2);
    expect(hello.activeRuns).toEqual([{ runId: "r2", attempt: 1, nextSeq: 2, finished: true }]);
    await fake.waitFor((rs) => rs.find((r) => r.conn === 2 && r.msg.$case === "runFinished"), "RunFinished again");
    const again = fake.received.filter((r) => r.conn === 2 && r.msg.$case === "logBatch").map((r) => r.msg.value);
    expect(again).toHaveLength(1);
    expect(again[0]).toMatchObject({ firstSeq: 1 });
    // RunStarted was confirmed by the ack: not repeated.
    expect(fake.received.some((r) => r.conn === 2 && r.msg.$case === "runStarted")).toBe(false);
    expect(fake.text("r2")).toBe("one\ntwo\n");
    fake.ack("r2");
    await eventually(() => ta!.agent.runs().length === 0, "the run to be forgotten");
  });

  it("resends RunFinished after every reconnect until a LogAck after it arrives", async () => {
    ta = await startTestAgent(fake, { backoff: { initialMs: 50, maxMs: 200 } });
    fake.assign("r4", { script: "echo only" });
    await fake.finished("r4");
    for (const conn of [2, 3]) {
      fake.drop(); // the controller never acknowledged: RunFinished may have been lost
      await helloOn(conn);
      await fake.waitFor((rs) => rs.find((r) => r.conn === conn && r.msg.$case === "runFinished"), `RunFinished again on stream ${conn}`);
    }
    expect(ta.agent.runs()).toEqual([{ runId: "r4", attempt: 1, nextSeq: 1, finished: true }]);
    fake.ack("r4");
    await eventually(() => ta!.agent.runs().length === 0, "the run to be forgotten");
    fake.drop();
    const hello = await helloOn(4);
    expect(hello.activeRuns).toEqual([]);
    await sleep(200);
    expect(fake.received.some((r) => r.conn === 4 && r.msg.$case === "runFinished")).toBe(false);
  });

  it("survives a controller restart: output written while it was down arrives, then RunFinished", async () => {
    ta = await startTestAgent(fake, { backoff: { initialMs: 50, maxMs: 300 } });
    const go = join(scratch, "go");
    fake.assign("r3", { script: GATED, env: { GO: go } });
    await fake.waitFor(() => (fake.text("r3") === "one\n" ? true : undefined), "first line");
    const port = fake.port;
    await fake.stop();
    writeFileSync(go, "");
    await sleep(500); // the job finishes while no controller is there
    // Finished: its last chunk is numbered too, though never sent.
    expect(ta.agent.runs()).toEqual([{ runId: "r3", attempt: 1, nextSeq: 2, finished: true }]);

    fake = await FakeController.start({ autoAck: true }, port);
    const hello = await helloOn(1);
    expect(hello.activeRuns).toEqual([{ runId: "r3", attempt: 1, nextSeq: 2, finished: true }]);
    const done = await fake.finished("r3");
    expect(done.exitCode).toBe(0);
    expect(fake.text("r3")).toBe("one\ntwo\n");
    await eventually(() => ta!.agent.runs().length === 0, "the run to be forgotten");
  });
});
