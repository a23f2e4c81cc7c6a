/**
 * The start deadline: an agent that accepts assignments but never reports a
 * start holds them from every other agent. Past startDeadlineMs the controller
 * takes the run back as attempt + 1, tells the agent to drop attempt 1, and a
 * well-behaved agent runs it; a late RunStarted for attempt 1 is fenced off.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as grpc from "@grpc/grpc-js";
import { pino } from "pino";
import { AgentServiceClient, Hello, type AgentMessage, type Assign, type Cancel, type ControllerMessage } from "../../../proto/gen/hodei/v1/agent.js";
import { FinishReason, LogStream } from "../../../proto/gen/hodei/v1/common.js";
import { startController, type Controller } from "../../../controller/server.js";
import { ControlClient } from "../../../cli/client.js";
import { getRun } from "../../../controller/store/runs.js";
import { createTestStore, type TestStore } from "../../helpers/db.js";
import { eventually } from "../../helpers/procs.js";
import { agentMetadata } from "../../helpers/agent-auth.js";

/** An agent over a raw stream that does only what the test says. */
class RawAgent {
  readonly client: AgentServiceClient;
  readonly call: grpc.ClientDuplexStream<AgentMessage, ControllerMessage>;
  readonly assigns: Assign[] = [];
  readonly cancels: Cancel[] = [];
  onAssign: (a: Assign) => AgentMessage[] = () => [];

  constructor(address: string, hello: Partial<Hello>) {
    this.client = new AgentServiceClient(address, grpc.credentials.createInsecure());
    this.call = this.client.connect(agentMetadata());
    this.call.on("error", () => {});
    this.call.on("data", (m: ControllerMessage) => {
      if (m.msg?.$case === "assign") {
        this.assigns.push(m.msg.value);
        for (const out of this.onAssign(m.msg.value)) this.call.write(out);
      }
      if (m.msg?.$case === "cancel") this.cancels.push(m.msg.value);
    });
    this.call.write({ msg: { $case: "hello", value: Hello.fromPartial({ slots: 1, version: "test", killMethod: "process-group", ...hello }) } });
  }

  send(msg: AgentMessage): void {
    this.call.write(msg);
  }

  close(): void {
    this.call.end();
    this.client.close();
  }
}

function startsAndSucceeds(a: Assign): AgentMessage[] {
  return [
    { msg: { $case: "runStarted", value: { runId: a.runId, attempt: a.attempt, pid: 1, startedAtMs: Date.now() } } },
    { msg: { $case: "logBatch", value: { runId: a.runId, attempt: a.attempt, firstSeq: 0, chunks: [{ stream: LogStream.LOG_STREAM_STDOUT, data: Buffer.from(`attempt ${a.attempt}\n`), tsMs: Date.now() }] } } },
    {
      msg: {
        $case: "runFinished",
        value: { runId: a.runId, attempt: a.attempt, reason: FinishReason.FINISH_REASON_EXITED, exitCode: 0, signal: "", message: "", logChunks: 1, finishedAtMs: Date.now(), usage: undefined },
      },
    },
  ];
}

const JOB = JSON.stringify({ apiVersion: "hodei.dev/v1", kind: "Job", metadata: { name: "deadline" }, spec: { run: "echo hi" } });

let store: TestStore;
let controller: Controller;
let client: ControlClient;
const agents: RawAgent[] = [];

beforeAll(async () => {
  store = await createTestStore("postgres");
  controller = await startController({ store, listen: "127.0.0.1:0", startDeadlineMs: 1000, logger: pino({ level: "silent" }) });
  client = new ControlClient(controller.address);
});

afterAll(async () => {
  for (const a of agents) a.close();
  client?.close();
  await controller?.stop();
  await store?.dispose();
});

describe("an agent that never starts its assignment", () => {
  it("loses it past the start deadline (attempt 2), is told to cancel attempt 1, and a good agent runs it; a late start is ignored", async () => {
    const bad = new RawAgent(controller.address, { name: "never-starts" });
    agents.push(bad);
    await eventually(() => (controller.agents.byName("never-starts") ? true : undefined), "the bad agent to connect");

    const submitted = await client.submitRun({ jobJson: JOB, source: "t", idempotencyKey: "" });
    await eventually(() => (bad.assigns.length ? true : undefined), "the bad agent to be assigned the run");
    expect(bad.assigns[0]).toMatchObject({ runId: submitted.id, attempt: 1 });

    // Taken back: attempt 2, queued again (no other agent yet), and the bad agent told to drop attempt 1.
    const back = await eventually(async () => {
      const r = await getRun(store.db, submitted.id);
      return r && r.attempt === 2 ? r : undefined;
    }, "the run to be taken back as attempt 2");
    expect(back.state).toBe("queued");
    expect(back.agent_id).toBeNull();
    await eventually(() => (bad.cancels.some((c) => c.runId === submitted.id && c.attempt === 1) ? true : undefined), "a Cancel for attempt 1");
    // The bad agent keeps the slot until it answers the cancel: not handed the run again.
    expect(bad.assigns.filter((a) => a.runId === submitted.id)).toHaveLength(1);

    // A late start for attempt 1 changes nothing.
    bad.send({ msg: { $case: "runStarted", value: { runId: submitted.id, attempt: 1, pid: 1, startedAtMs: Date.now() } } });
    bad.send({ msg: { $case: "heartbeat", value: { cpuPercent: 0, memoryUsedBytes: 0, memoryTotalBytes: 0, load1: 0, running: 0, agentRssBytes: 0 } } });
    // The heartbeat is handled after the RunStarted (one chain per stream): once it is recorded, so is the start.
    await eventually(async () => ((await controller.store.db.selectFrom("agents").select("heartbeat").where("name", "=", "never-starts").executeTakeFirst())?.heartbeat ? true : undefined), "the late messages to be handled");
    expect(await getRun(store.db, submitted.id)).toMatchObject({ state: "queued", attempt: 2, started_at: null, agent_id: null });

    // A well-behaved agent runs attempt 2 to the end.
    const good = new RawAgent(controller.address, { name: "starts" });
    good.onAssign = startsAndSucceeds;
    agents.push(good);
    const ended = await eventually(async () => {
      const r = await getRun(store.db, submitted.id);
      return r && r.state === "succeeded" ? r : undefined;
    }, "the run to succeed on the good agent");
    expect(ended).toMatchObject({ attempt: 2, exit_code: 0 });
    expect(good.assigns).toEqual([expect.objectContaining({ runId: submitted.id, attempt: 2 })]);
    const run = await client.getRun(submitted.id);
    expect(run.agentName).toBe("starts");

    // Even later: the bad agent's start (and end) for attempt 1 after the run ended change nothing.
    bad.send({ msg: { $case: "runStarted", value: { runId: submitted.id, attempt: 1, pid: 1, startedAtMs: Date.now() } } });
    for (const m of startsAndSucceeds({ runId: submitted.id, attempt: 1, jobName: "deadline", spec: undefined })) if (m.msg?.$case !== "runStarted") bad.send(m);
    await new Promise((r) => setTimeout(r, 500));
    expect(await getRun(store.db, submitted.id)).toMatchObject({ state: "succeeded", attempt: 2 });
    const chunks: string[] = [];
    await client.followLogs(submitted.id, { follow: false, attempt: 2 }, (e) => void chunks.push(Buffer.from(e.data).toString()));
    expect(chunks.join("")).toBe("attempt 2\n");
  }, 60_000);
});
