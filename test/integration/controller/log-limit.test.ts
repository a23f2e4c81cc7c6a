/**
 * The per-attempt log size limit (--max-log-size), through a real controller
 * over loopback gRPC and real PostgreSQL. The agent is fake (a raw stream the
 * test drives, test/helpers/fake-agent.ts) so the test decides exactly which
 * bytes arrive in which batch, and when the agent reconnects. What is stored
 * stops at the limit, the chunk that crosses it is cut, a system line says
 * which limit and how to change it, later output is acknowledged and dropped
 * (also after a reconnect, when the agent's sequence is ahead of the store),
 * and the run's result is still recorded.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { pino } from "pino";
import { startController, type Controller } from "../../../controller/server.js";
import { compileControllerOptions } from "../../../controller/config.js";
import { ControlClient } from "../../../cli/client.js";
import { getRun } from "../../../controller/store/runs.js";
import { readChunks } from "../../../controller/store/logs.js";
import { FinishReason, LogStream } from "../../../proto/gen/hodei/v1/common.js";
import { createTestStore, type TestStore } from "../../helpers/db.js";
import { FakeAgent } from "../../helpers/fake-agent.js";
import { eventually } from "../../helpers/procs.js";

const LIMIT = 100;
const JOB = JSON.stringify({ apiVersion: "hodei.dev/v1", kind: "Job", metadata: { name: "loud" }, spec: { run: "yes" } });

let store: TestStore;
let controller: Controller;
let client: ControlClient;
const agents: FakeAgent[] = [];

beforeAll(async () => {
  store = await createTestStore("postgres");
  controller = await startController({ store, listen: "127.0.0.1:0", logger: pino({ level: "silent" }), maxLogBytes: LIMIT });
  client = new ControlClient(controller.address);
});

afterAll(async () => {
  for (const a of agents) a.close();
  client?.close();
  await controller?.stop();
  await store?.dispose();
});

const out = (text: string) => ({ stream: LogStream.LOG_STREAM_STDOUT, data: Buffer.from(text), tsMs: Date.now() });

/** The LogAck for (run, attempt) covering at least `seq`, once it arrives. */
function acked(agent: FakeAgent, runId: string, seq: number): Promise<true> {
  return eventually(() => (agent.messages.some((m) => m.msg?.$case === "logAck" && m.msg.value.runId === runId && m.msg.value.nextSeq >= seq) ? true : undefined), `an ack of ${seq}`);
}

describe("the log size limit", () => {
  it("stores up to the limit, cuts the chunk that crosses it, ends with a marker, and drops (but acknowledges) the rest, across a reconnect", async () => {
    const agent = new FakeAgent(controller.address, "loud-agent");
    agents.push(agent);
    const credential = (await agent.welcome).sessionToken;
    const run = await client.submitRun({ jobJson: JOB, source: "t", idempotencyKey: "" });
    const { runId, attempt } = await agent.assigned(run.id);
    agent.send({ msg: { $case: "runStarted", value: { runId, attempt, pid: 1, startedAtMs: Date.now() } } });
    agent.send({ msg: { $case: "logBatch", value: { runId, attempt, firstSeq: 0, chunks: [out("a".repeat(60))] } } });
    agent.send({ msg: { $case: "logBatch", value: { runId, attempt, firstSeq: 1, chunks: [out("b".repeat(60)), out("c".repeat(10))] } } });
    agent.send({ msg: { $case: "logBatch", value: { runId, attempt, firstSeq: 3, chunks: [out("d".repeat(10))] } } });
    await acked(agent, runId, 4);

    // The agent reconnects (its stream broke) with its credential, still running, its sequence ahead of the store.
    agent.close();
    await eventually(async () => ((await client.listAgents()).agents.find((a) => a.name === "loud-agent")?.state === "disconnected" ? true : undefined), "the old stream to close");
    const again = new FakeAgent(controller.address, "loud-agent", { token: credential, activeRuns: [{ runId, attempt, nextSeq: 6, finished: false }] });
    agents.push(again);
    await again.welcome;
    again.send({ msg: { $case: "logBatch", value: { runId, attempt, firstSeq: 6, chunks: [out("e".repeat(10))] } } });
    await acked(again, runId, 7);
    again.send({
      msg: { $case: "runFinished", value: { runId, attempt, reason: FinishReason.FINISH_REASON_EXITED, exitCode: 0, signal: "", message: "", logChunks: 7, finishedAtMs: Date.now(), usage: undefined } },
    });
    await eventually(async () => ((await getRun(store.db, runId))?.state === "succeeded" ? true : undefined), "the run to succeed");

    const stored = await readChunks(store.db, runId, attempt, 0, 100);
    expect(stored.map((c) => Number(c.seq))).toEqual([0, 1, 2]);
    expect(Buffer.from(stored[0]!.data).toString()).toBe("a".repeat(60));
    expect(Buffer.from(stored[1]!.data).toString()).toBe("b".repeat(40));
    expect(stored[2]!.stream).toBe(LogStream.LOG_STREAM_SYSTEM);
    expect(Buffer.from(stored[2]!.data).toString()).toBe(
      `\nhodei: this attempt's log reached the controller's limit of ${LIMIT} bytes; later output was dropped (the controller's --max-log-size sets the limit)\n`,
    );
    // What `hodei logs` shows: the same bytes, marker last.
    let text = "";
    await client.followLogs(runId, { follow: false }, (e) => void (text += Buffer.from(e.data).toString()));
    expect(text).toBe(`${"a".repeat(60)}${"b".repeat(40)}\nhodei: this attempt's log reached the controller's limit of ${LIMIT} bytes; later output was dropped (the controller's --max-log-size sets the limit)\n`);
  });

  it("takes 0 as no limit and refuses a negative or fractional one", () => {
    expect(compileControllerOptions({ databaseUrl: "postgres://x/y", maxLogBytes: 0 }).maxLogBytes).toBe(0);
    expect(compileControllerOptions({ databaseUrl: "postgres://x/y" }).maxLogBytes).toBe(1024 ** 3);
    expect(() => compileControllerOptions({ databaseUrl: "postgres://x/y", maxLogBytes: -1 })).toThrow(/max log size must be a whole number of bytes \(0: no limit\), got -1/);
    expect(() => compileControllerOptions({ databaseUrl: "postgres://x/y", maxLogBytes: 1.5 })).toThrow(/max log size/);
  });
});
