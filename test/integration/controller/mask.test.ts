/**
 * The controller masks again before it stores (defence in depth): an agent
 * that does not mask (a raw gRPC stream here, standing for an old or broken
 * agent) sends `::add-mask::VALUE` and then the value, raw and base64, in
 * later chunks and batches; the stored chunks hold the mask and not the
 * value, and every sequence number is still there.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as grpc from "@grpc/grpc-js";
import { pino } from "pino";
import { AgentServiceClient, Hello, type AgentMessage, type Assign, type ControllerMessage } from "../../../proto/gen/hodei/v1/agent.js";
import { FinishReason, LogStream } from "../../../proto/gen/hodei/v1/common.js";
import { startController, type Controller } from "../../../controller/server.js";
import { ControlClient } from "../../../cli/client.js";
import { getRun } from "../../../controller/store/runs.js";
import { readChunks } from "../../../controller/store/logs.js";
import { ChunkMasker } from "../../../controller/logs/mask.js";
import { createTestStore, type TestStore } from "../../helpers/db.js";
import { eventually } from "../../helpers/procs.js";
import { agentMetadata } from "../../helpers/agent-auth.js";
import { FakeAgent } from "../../helpers/fake-agent.js";
import { MasterKey } from "../../../controller/secrets/seal.js";

const VALUE = "controller-side-Secret-77";
const JOB = JSON.stringify({ apiVersion: "hodei.dev/v1", kind: "Job", metadata: { name: "raw" }, spec: { run: "true" } });

let store: TestStore;
let controller: Controller;
let client: ControlClient;
let agent: AgentServiceClient;
let call: grpc.ClientDuplexStream<AgentMessage, ControllerMessage>;

beforeAll(async () => {
  store = await createTestStore("postgres");
  controller = await startController({ store, listen: "127.0.0.1:0", logger: pino({ level: "silent" }) });
  client = new ControlClient(controller.address);
});

afterAll(async () => {
  call?.end();
  agent?.close();
  client?.close();
  await controller?.stop();
  await store?.dispose();
});

const chunk = (stream: LogStream, text: string) => ({ stream, data: Buffer.from(text), tsMs: Date.now() });

describe("the controller's own masking pass", () => {
  it("masks ::add-mask:: values of an agent that did not, in later chunks and on the other stream", async () => {
    agent = new AgentServiceClient(controller.address, grpc.credentials.createInsecure());
    call = agent.connect(agentMetadata());
    call.on("error", () => {});
    const assigned = new Promise<Assign>((resolve) =>
      call.on("data", (m: ControllerMessage) => {
        if (m.msg?.$case === "assign") resolve(m.msg.value);
      }),
    );
    call.write({ msg: { $case: "hello", value: Hello.fromPartial({ name: "raw-agent", slots: 1, version: "test", killMethod: "process-group" }) } });
    const run = await client.submitRun({ jobJson: JOB, source: "t", idempotencyKey: "" });
    const a = await assigned;
    expect(a.spec?.maskValues).toEqual([]);
    const { runId, attempt } = a;
    call.write({ msg: { $case: "runStarted", value: { runId, attempt, pid: 1, startedAtMs: Date.now() } } });
    const b64 = Buffer.from(VALUE).toString("base64");
    const batches = [
      [chunk(LogStream.LOG_STREAM_STDOUT, `::add-mask::${VALUE}\n`), chunk(LogStream.LOG_STREAM_STDOUT, `raw ${VALUE}\n`)],
      [chunk(LogStream.LOG_STREAM_STDERR, `b64 ${b64}\n`), chunk(LogStream.LOG_STREAM_STDOUT, "plain \x1b[1mbold\x1b[0m\n")],
    ];
    let seq = 0;
    for (const chunks of batches) {
      call.write({ msg: { $case: "logBatch", value: { runId, attempt, firstSeq: seq, chunks } } });
      seq += chunks.length;
    }
    call.write({
      msg: { $case: "runFinished", value: { runId, attempt, reason: FinishReason.FINISH_REASON_EXITED, exitCode: 0, signal: "", message: "", logChunks: seq, finishedAtMs: Date.now(), usage: undefined } },
    });
    await eventually(async () => ((await getRun(store.db, run.id))?.state === "succeeded" ? true : undefined), "the run to end");
    const stored = await readChunks(store.db, runId, attempt, 0, 100);
    expect(stored.map((c) => Number(c.seq))).toEqual([0, 1, 2, 3]);
    const text = stored.map((c) => Buffer.from(c.data).toString()).join("");
    expect(text).toBe("::add-mask::***\nraw ***\nb64 ***\nplain \x1b[1mbold\x1b[0m\n");
    expect(text).not.toContain(VALUE);
  });
});

describe("after the agent reconnects", () => {
  it("the controller still masks the run's secrets (read again for the resumed run), as it did after the Assign", async () => {
    const key = MasterKey.generate();
    const c2 = await startController({ store, listen: "127.0.0.1:0", logger: pino({ level: "silent" }), masterKey: { env: key.encoded() } });
    const admin = new ControlClient(c2.address);
    const secret = "resumed-Secret-Value-31337";
    try {
      await admin.setSecret("RESUME_TOKEN", "", Buffer.from(secret));
      const first = new FakeAgent(c2.address, "resume-agent", { labels: { only: "resume" } });
      const credential = (await first.welcome).sessionToken;
      const job = JSON.stringify({ apiVersion: "hodei.dev/v1", kind: "Job", metadata: { name: "with-secret" }, spec: { run: "true", secrets: ["RESUME_TOKEN"], selector: { only: "resume" } } });
      const run = await admin.submitRun({ jobJson: job, source: "t", idempotencyKey: "" });
      const a = await first.assigned(run.id);
      expect(a.spec?.maskValues).toContain(secret);
      const { runId, attempt } = a;
      first.send({ msg: { $case: "runStarted", value: { runId, attempt, pid: 1, startedAtMs: Date.now() } } });
      first.close();
      await eventually(async () => ((await admin.listAgents()).agents.find((x) => x.name === "resume-agent")?.state === "disconnected" ? true : undefined), "the stream to close");
      // Back with its credential, still running the run; it does not mask (it stands for a broken agent).
      const again = new FakeAgent(c2.address, "resume-agent", { token: credential, labels: { only: "resume" }, activeRuns: [{ runId, attempt, nextSeq: 0, finished: false }] });
      await again.welcome;
      again.send({ msg: { $case: "logBatch", value: { runId, attempt, firstSeq: 0, chunks: [chunk(LogStream.LOG_STREAM_STDOUT, `leak ${secret}\n`)] } } });
      again.send({
        msg: { $case: "runFinished", value: { runId, attempt, reason: FinishReason.FINISH_REASON_EXITED, exitCode: 0, signal: "", message: "", logChunks: 1, finishedAtMs: Date.now(), usage: undefined } },
      });
      await eventually(async () => ((await getRun(store.db, runId))?.state === "succeeded" ? true : undefined), "the run to end");
      const stored = await readChunks(store.db, runId, attempt, 0, 10);
      expect(stored.map((c) => Buffer.from(c.data).toString())).toEqual(["leak ***\n"]);
      again.close();
    } finally {
      admin.close();
      await c2.stop();
    }
  });
});

describe("ChunkMasker", () => {
  it("masks the run's values chunk by chunk, keeping each chunk; a value split across chunks is masked from the second on", () => {
    const m = new ChunkMasker([VALUE]);
    expect(m.mask(LogStream.LOG_STREAM_STDOUT, Buffer.from(`a ${VALUE} b\n`)).toString()).toBe("a *** b\n");
    expect(m.mask(LogStream.LOG_STREAM_SYSTEM, Buffer.from(`hodei: ${VALUE}\n`)).toString()).toBe("hodei: ***\n");
    expect(m.mask(LogStream.LOG_STREAM_STDOUT, Buffer.from("x controller-side")).toString()).toBe("x controller-side");
    expect(m.mask(LogStream.LOG_STREAM_STDOUT, Buffer.from("-Secret-77 y")).toString()).toBe("*** y");
    // The agent's form of an add-mask line registers nothing and stays as it is.
    expect(m.mask(LogStream.LOG_STREAM_STDERR, Buffer.from("::add-mask::***\n")).toString()).toBe("::add-mask::***\n");
  });
});
