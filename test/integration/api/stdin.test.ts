/**
 * Stdin through a real controller over loopback gRPC: WriteStdin stores and
 * acknowledges chunks (a resend on a new stream after a break is dropped),
 * refuses hostile or impossible input in plain words (unknown run, run without
 * stdin, ended run, over the limit, oversized chunk, bad id, a gap), and
 * ReadStdin replays the stored chunks, follows new ones until eof, resumes
 * from a sequence, and ends when the attempt is over. ReadStdin serves only
 * the agent a run is assigned to (a fake agent here: the test drives its
 * stream, and it answers Cancel as a real agent does).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as grpc from "@grpc/grpc-js";
import { pino } from "pino";
import { startController, type Controller } from "../../../controller/server.js";
import { ControlClient } from "../../../cli/client.js";
import { AgentServiceClient, type StdinData } from "../../../proto/gen/hodei/v1/agent.js";
import type { StdinAck, StdinChunk } from "../../../proto/gen/hodei/v1/control.js";
import { fromWire } from "../../../proto/wire-errors.js";
import { DIALECTS, createTestStore, type TestStore } from "../../helpers/db.js";
import { FakeAgent } from "../../helpers/fake-agent.js";
import { eventually } from "../../helpers/procs.js";
import { getRun } from "../../../controller/store/runs.js";

const LIMIT = 4096;
const job = (name: string): string => JSON.stringify({ apiVersion: "hodei.dev/v1", kind: "Job", metadata: { name }, spec: { run: "cat" } });

interface Outcome {
  acks: number[];
  error?: { code: number; kind: string; message: string };
}

/** One WriteStdin stream: sends `chunks`, half-closes, and collects the acks and the error, if any. */
function write(client: ControlClient, chunks: Partial<StdinChunk>[]): Promise<Outcome> {
  return new Promise((resolve) => {
    const acks: number[] = [];
    const call = client.openStdin();
    call.on("data", (a: StdinAck) => acks.push(a.nextSeq));
    call.on("error", (err: grpc.ServiceError) => {
      const w = fromWire(err);
      resolve({ acks, error: { code: err.code, kind: w.kind, message: w.message } });
    });
    call.on("end", () => resolve({ acks }));
    for (const c of chunks) call.write({ runId: "", seq: 0, data: Buffer.alloc(0), eof: false, ...c });
    call.end();
  });
}

/** ReadStdin until it ends: the chunks and how it ended. */
let md: grpc.Metadata;

function read(agent: AgentServiceClient, runId: string, attempt: number, fromSeq = 0, onData?: (d: StdinData) => void): Promise<{ got: StdinData[]; error?: grpc.ServiceError }> {
  return new Promise((resolve) => {
    const got: StdinData[] = [];
    const call = agent.readStdin({ runId, attempt, fromSeq }, md);
    call.on("data", (d: StdinData) => {
      got.push(d);
      onData?.(d);
    });
    call.on("error", (error: grpc.ServiceError) => resolve({ got, error }));
    call.on("end", () => resolve({ got }));
  });
}

const text = (got: StdinData[]): string => Buffer.concat(got.map((d) => Buffer.from(d.data))).toString();

describe.each(DIALECTS)("stdin over gRPC (%s)", (dialect) => {
  let store: TestStore;
  let controller: Controller;
  let client: ControlClient;
  let agent: AgentServiceClient;
  let fake: FakeAgent;

  beforeAll(async () => {
    store = await createTestStore(dialect);
    controller = await startController({ store, listen: "127.0.0.1:0", logger: pino({ level: "silent" }), maxStdinBytes: LIMIT });
    client = new ControlClient(controller.address);
    agent = new AgentServiceClient(controller.address, grpc.credentials.createInsecure());
    // Takes every run: the only agent, with room for all of them.
    fake = new FakeAgent(controller.address, "stdin-agent", { slots: 50 });
    md = await fake.metadata();
  });
  afterAll(async () => {
    fake?.close();
    agent?.close();
    client?.close();
    await controller?.stop();
    await store?.dispose();
  });

  const submit = async (name: string, stdin = true) => {
    const run = await client.submitRun({ jobJson: job(name), source: "t", idempotencyKey: `${name}-${Math.random()}`, stdin });
    await fake.assigned(run.id);
    return run;
  };

  it("a run submitted with stdin says so; WriteStdin acknowledges each stored chunk, and a resend on a new stream is dropped", async () => {
    const run = await submit("resend");
    expect(run.stdin).toBe(true);
    // The first stream breaks after two chunks (as a restarted controller would); the client resends from 0.
    expect(await write(client, [{ runId: run.id, seq: 0, data: Buffer.from("ab") }, { runId: run.id, seq: 1, data: Buffer.from("cd") }])).toEqual({ acks: [1, 2] });
    const again = await write(client, [
      { runId: run.id, seq: 0, data: Buffer.from("ab") },
      { runId: run.id, seq: 1, data: Buffer.from("cd") },
      { runId: run.id, seq: 2, data: Buffer.from("ef") },
      { runId: run.id, seq: 3, eof: true },
    ]);
    expect(again).toEqual({ acks: [2, 2, 3, 4] });
    const { got, error } = await read(agent, run.id, 1);
    expect(error).toBeUndefined();
    expect(got.map((d) => d.seq)).toEqual([0, 1, 2, 3]);
    expect(text(got)).toBe("abcdef");
    expect(got.at(-1)?.eof).toBe(true);
    // An agent resuming after a break asks from the next sequence it lacks.
    const resumed = await read(agent, run.id, 1, 2);
    expect(resumed.got.map((d) => d.seq)).toEqual([2, 3]);
  });

  it("ReadStdin replays what is stored, then follows new chunks as they are written, until eof", async () => {
    const run = await submit("follow");
    await write(client, [{ runId: run.id, seq: 0, data: Buffer.from("first ") }]);
    let sentMore = false;
    const reading = read(agent, run.id, 1, 0, (d) => {
      // Only once the replayed chunk has arrived: the rest must come live.
      if (d.seq === 0 && !sentMore) {
        sentMore = true;
        void write(client, [{ runId: run.id, seq: 1, data: Buffer.from("second") }, { runId: run.id, seq: 2, eof: true }]);
      }
    });
    const { got, error } = await reading;
    expect(error).toBeUndefined();
    expect(text(got)).toBe("first second");
    expect(got.map((d) => [d.seq, d.eof])).toEqual([[0, false], [1, false], [2, true]]);
  });

  it("ReadStdin ends with FAILED_PRECONDITION once the attempt is over (the run cancelled while it waits), and for another attempt", async () => {
    const run = await submit("cancelled");
    const reading = read(agent, run.id, 1, 0, () => {});
    await write(client, [{ runId: run.id, seq: 0, data: Buffer.from("x") }]);
    await client.cancelRun(run.id, "test");
    const { got, error } = await reading;
    expect(error?.code).toBe(grpc.status.FAILED_PRECONDITION);
    expect(text(got)).toBe("x");
    const other = await submit("other-attempt");
    expect((await read(agent, other.id, 2)).error?.code).toBe(grpc.status.FAILED_PRECONDITION);
  });

  it("WriteStdin for a run that does not exist: NOT_FOUND; ReadStdin too", async () => {
    const r = await write(client, [{ runId: "987654321", seq: 0, data: Buffer.from("x") }]);
    expect(r.error).toMatchObject({ code: grpc.status.NOT_FOUND, kind: "not_found", message: "run 987654321 not found" });
    expect((await read(agent, "987654321", 1)).error?.code).toBe(grpc.status.NOT_FOUND);
  });

  it("refuses stdin for a run submitted without it, and for a run that has ended", async () => {
    const plain = await submit("plain", false);
    expect(plain.stdin).toBe(false);
    const r = await write(client, [{ runId: plain.id, seq: 0, data: Buffer.from("x") }]);
    expect(r.error).toMatchObject({ code: grpc.status.FAILED_PRECONDITION, kind: "conflict" });
    expect(r.error?.message).toContain("was not submitted with stdin (hodei run -i)");
    const ended = await submit("ended");
    await client.cancelRun(ended.id, "test");
    // Assigned, it ends once its agent says so (the fake answers the Cancel).
    await eventually(async () => ((await getRun(store.db, ended.id))?.state === "cancelled" ? true : undefined), "the run to end");
    const e = await write(client, [{ runId: ended.id, seq: 0, data: Buffer.from("x") }]);
    expect(e.error).toMatchObject({ code: grpc.status.FAILED_PRECONDITION, kind: "conflict", message: `run ${ended.id} already ended (cancelled); it takes no more stdin` });
  });

  it("refuses stdin over the limit in plain words, keeping what came before", async () => {
    const run = await submit("too-much");
    const r = await write(client, [
      { runId: run.id, seq: 0, data: Buffer.alloc(LIMIT - 10, 1) },
      { runId: run.id, seq: 1, data: Buffer.alloc(11, 2) },
      { runId: run.id, seq: 2, data: Buffer.alloc(1, 3) },
    ]);
    expect(r.acks).toEqual([1]);
    expect(r.error).toMatchObject({ code: grpc.status.INVALID_ARGUMENT, kind: "invalid" });
    expect(r.error?.message).toContain(`stdin of run ${run.id} is over the controller's limit of ${LIMIT} bytes;`);
  });

  it("refuses hostile messages: a chunk over 1 MiB, a run id that is not one, a gap in the sequence", async () => {
    const run = await submit("hostile");
    const big = await write(client, [{ runId: run.id, seq: 0, data: Buffer.alloc((1 << 20) + 1) }]);
    expect(big.error).toMatchObject({ code: grpc.status.INVALID_ARGUMENT, message: `a stdin chunk holds at most ${1 << 20} bytes, got ${(1 << 20) + 1}` });
    const badId = await write(client, [{ runId: "1; drop table runs", seq: 0, data: Buffer.from("x") }]);
    expect(badId.error).toMatchObject({ code: grpc.status.INVALID_ARGUMENT, kind: "invalid" });
    const gap = await write(client, [{ runId: run.id, seq: 5, data: Buffer.from("x") }]);
    expect(gap.error).toMatchObject({ code: grpc.status.INVALID_ARGUMENT, message: `stdin chunk out of order for run ${run.id}: expected sequence 0` });
  });
});
