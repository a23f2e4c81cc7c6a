/**
 * Bounded log followers (regression): many `follow` StreamLogs clients that
 * stop reading while a run writes far more than they could hold must not make
 * the controller buffer the log once per follower. A follower keeps at most
 * LIVE_BUFFER_BYTES of live chunks, then falls back to the store; a client
 * that goes away unsubscribes even while a write to it waits for the client;
 * and a slow follower that resumes gets every chunk exactly once, in order.
 *
 * The controller runs in this process (startController with a test store); a
 * raw AgentService stream plays the agent; raw ControlService streams play
 * the followers, paused by never being read.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as grpc from "@grpc/grpc-js";
import { spawn, type ChildProcess } from "node:child_process";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { pino } from "pino";
import { AgentServiceClient, Hello, type AgentMessage, type Assign, type ControllerMessage } from "../../../proto/gen/hodei/v1/agent.js";
import { ControlServiceClient, StreamLogsRequest, type LogEvent } from "../../../proto/gen/hodei/v1/control.js";
import { FinishReason, LogStream } from "../../../proto/gen/hodei/v1/common.js";
import { startController, type Controller } from "../../../controller/server.js";
import { LogHub } from "../../../controller/logs/hub.js";
import { LIVE_BUFFER_BYTES } from "../../../controller/api/stream-logs.js";
import { getRun } from "../../../controller/store/runs.js";
import { ControlClient } from "../../../cli/client.js";
import { createTestStore, type TestStore } from "../../helpers/db.js";
import { eventually } from "../../helpers/procs.js";
import { agentMetadata } from "../../helpers/agent-auth.js";

const FOLLOWERS = 20;
const BATCHES = 40;
const CHUNKS_PER_BATCH = 16;
const CHUNK_BYTES = (1 << 20) / CHUNKS_PER_BATCH; // 1 MiB batches, 40 MiB in all
const TOTAL_CHUNKS = 1 + BATCHES * CHUNKS_PER_BATCH; // seq 0 is a small first line

/** The bytes of chunk `seq`: its number, then a filler that differs from its neighbours'. */
function chunkData(seq: number): Buffer {
  if (seq === 0) return Buffer.from("first line\n");
  const b = Buffer.alloc(CHUNK_BYTES, 32 + (seq % 90));
  b.write(`<${seq}>`, 0);
  return b;
}

/** A full GC (the flag set at run time, as node --expose-gc would). */
function collector(): () => void {
  setFlagsFromString("--expose-gc");
  const gc = runInNewContext("gc") as () => void;
  return () => {
    gc();
    gc();
  };
}
const memory = (): number => {
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
};

let store: TestStore;
let controller: Controller;
let client: ControlClient;
let control: ControlServiceClient;
let hub: LogHub | undefined;
const restoreHub = LogHub.prototype.subscribe;
const children: ChildProcess[] = [];

beforeAll(async () => {
  // The controller's LogHub is internal; catch it when the first follower subscribes.
  LogHub.prototype.subscribe = function (this: LogHub, ...args: Parameters<LogHub["subscribe"]>) {
    // eslint-disable-next-line @typescript-eslint/no-this-alias -- the controller's hub, caught for its followerCount
    hub ??= this;
    return restoreHub.apply(this, args);
  };
  store = await createTestStore("postgres");
  controller = await startController({ store, listen: "127.0.0.1:0", logger: pino({ level: "silent" }) });
  client = new ControlClient(controller.address);
  control = new ControlServiceClient(controller.address, grpc.credentials.createInsecure());
});

afterAll(async () => {
  for (const c of children) c.kill("SIGKILL");
  LogHub.prototype.subscribe = restoreHub;
  control?.close();
  client?.close();
  await controller?.stop();
  await store?.dispose();
});

/** The agent: runs what it is assigned, and sends log batches when told, one at a time (waiting for the ack). */
class FloodAgent {
  readonly client = new AgentServiceClient(controller.address, grpc.credentials.createInsecure(), { "grpc.max_send_message_length": 8 << 20 });
  readonly call: grpc.ClientDuplexStream<AgentMessage, ControllerMessage> = this.client.connect(agentMetadata());
  assigned?: Assign;
  acked = 0;
  private ackWaiters: (() => void)[] = [];

  constructor() {
    this.call.on("error", () => {});
    this.call.on("data", (m: ControllerMessage) => {
      if (m.msg?.$case === "assign") {
        this.assigned = m.msg.value;
        const { runId, attempt } = m.msg.value;
        this.call.write({ msg: { $case: "runStarted", value: { runId, attempt, pid: 1, startedAtMs: Date.now() } } });
      }
      if (m.msg?.$case === "logAck") {
        this.acked = Math.max(this.acked, m.msg.value.nextSeq);
        for (const w of this.ackWaiters.splice(0)) w();
      }
    });
    this.call.write({ msg: { $case: "hello", value: Hello.fromPartial({ name: "flood-agent", slots: 1, version: "test", killMethod: "process-group" }) } });
  }

  async send(firstSeq: number, count: number): Promise<void> {
    const { runId, attempt } = this.assigned!;
    const chunks = Array.from({ length: count }, (_, i) => ({ stream: LogStream.LOG_STREAM_STDOUT, data: chunkData(firstSeq + i), tsMs: Date.now() }));
    this.call.write({ msg: { $case: "logBatch", value: { runId, attempt, firstSeq, chunks } } });
    while (this.acked < firstSeq + count) await new Promise<void>((r) => this.ackWaiters.push(r));
  }

  finish(): void {
    const { runId, attempt } = this.assigned!;
    this.call.write({
      msg: {
        $case: "runFinished",
        value: { runId, attempt, reason: FinishReason.FINISH_REASON_EXITED, exitCode: 0, signal: "", message: "", logChunks: TOTAL_CHUNKS, finishedAtMs: Date.now(), usage: undefined },
      },
    });
  }

  close(): void {
    this.call.end();
    this.client.close();
  }
}

/** A process holding FOLLOWERS raw HTTP/2 StreamLogs calls, paused and never read. */
function pausedFollowers(address: string, request: Uint8Array): ChildProcess {
  const frame = Buffer.alloc(5 + request.length);
  frame.writeUInt32BE(request.length, 1);
  Buffer.from(request).copy(frame, 5);
  const script = `
    const http2 = require("node:http2");
    const [address, frame, n] = process.argv.slice(1);
    const session = http2.connect("http://" + address);
    session.on("error", () => {});
    for (let i = 0; i < Number(n); i++) {
      const req = session.request({ ":method": "POST", ":path": "/hodei.v1.ControlService/StreamLogs", "content-type": "application/grpc", te: "trailers", authorization: "Bearer " + process.env.HODEI_TOKEN });
      req.on("error", () => {});
      req.pause();
      req.end(Buffer.from(frame, "hex"));
    }
    setInterval(() => {}, 1 << 30);`;
  const child = spawn(process.execPath, ["-e", script, address, frame.toString("hex"), String(FOLLOWERS)], { stdio: "ignore" });
  children.push(child);
  return child;
}

describe("log followers that stop reading", () => {
  it("stay bounded, unsubscribe when their clients go away, and a resumed one gets every chunk once, in order", async () => {
    const gc = collector();
    const agent = new FloodAgent();
    try {
      const submitted = await client.submitRun({ jobJson: JSON.stringify({ apiVersion: "hodei.dev/v1", kind: "Job", metadata: { name: "flood" }, spec: { run: "true" } }), source: "t", idempotencyKey: "" });
      await eventually(() => agent.assigned, "the run to be assigned");
      expect(agent.assigned!.runId).toBe(submitted.id);
      await eventually(async () => ((await getRun(store.db, submitted.id))?.state === "running" ? true : undefined), "the run to start");
      await agent.send(0, 1);

      // The paused followers live in another process (a grpc-js client would keep reading the
      // HTTP/2 stream into its own buffers, in this process): raw HTTP/2 StreamLogs calls whose
      // streams are paused and never read, so flow control stops the controller's writes.
      const followers = pausedFollowers(controller.address, StreamLogsRequest.encode({ runId: submitted.id, attempt: 0, fromSeq: 0, follow: true }).finish());
      // And one more here, a grpc-js stream that is read only later.
      // The admin token every test controller seeds (test/helpers/global-setup.ts).
      const md = new grpc.Metadata();
      md.set("authorization", `Bearer ${process.env.HODEI_TOKEN}`);
      const kept = control.streamLogs({ runId: submitted.id, attempt: 0, fromSeq: 0, follow: true }, md);
      kept.on("error", () => {});
      kept.pause();
      await eventually(() => (hub?.followerCount === FOLLOWERS + 1 ? true : undefined), `${FOLLOWERS + 1} followers to subscribe`);

      gc();
      const before = memory();
      for (let b = 0; b < BATCHES; b++) await agent.send(1 + b * CHUNKS_PER_BATCH, CHUNKS_PER_BATCH);
      expect(agent.acked).toBe(TOTAL_CHUNKS);
      expect(hub!.followerCount).toBe(FOLLOWERS + 1); // still there, none reading
      gc();
      const grown = memory() - before;
      const logBytes = BATCHES * (1 << 20);
      console.log(`[log-followers] ${FOLLOWERS} paused followers, ${logBytes >> 20} MiB of log: heap + array buffers grew ${(grown / 2 ** 20).toFixed(1)} MiB`);
      // Unbounded, each follower would hold the whole log (20 × 40 MiB). Bounded, each holds at most
      // its live buffer and what it is writing; the kept grpc-js client may buffer one copy here.
      expect(grown).toBeLessThan(logBytes + FOLLOWERS * 4 * LIVE_BUFFER_BYTES);

      // The clients go away while the controller's writes to them wait: they all unsubscribe.
      followers.kill("SIGKILL");
      await eventually(() => (hub!.followerCount === 1 ? true : undefined), "the gone followers to unsubscribe");

      // The kept follower resumes: everything, once, in order, then the run's end.
      agent.finish();
      const seqs: number[] = [];
      let wrong = 0;
      let end: LogEvent | undefined;
      for await (const ev of kept as AsyncIterable<LogEvent>) {
        if (ev.event?.$case === "chunk") {
          const c = ev.event.value;
          seqs.push(c.seq);
          if (!Buffer.from(c.data).equals(chunkData(c.seq))) wrong++;
        } else if (ev.event?.$case === "end") {
          end = ev;
        }
      }
      expect(seqs.length).toBe(TOTAL_CHUNKS);
      expect(seqs.every((s, i) => s === i)).toBe(true);
      expect(wrong).toBe(0);
      expect(end?.event?.$case === "end" && end.event.value).toMatchObject({ id: submitted.id, state: "succeeded" });
      await eventually(() => (hub!.followerCount === 0 ? true : undefined), "the last follower to unsubscribe");
    } finally {
      agent.close();
    }
  }, 120_000);
});
