/**
 * Agents prove who they are (issue 9 item 2), through a real controller over
 * loopback gRPC and real PostgreSQL. The agents here are fake (raw
 * AgentService streams driven by the test, test/helpers/fake-agent.ts): the
 * point is what a hostile or broken agent can send, which a real one never
 * would. Join tokens: single use, expiry, revocation, unknown and forged
 * tokens, the race for a last use; fixed labels and the slot cap; the session
 * credential on reconnect and across a controller restart; a takeover of a
 * live agent's name and id refused; a joined agent that reports, logs and
 * finishes another agent's run changes nothing; every refusal and join in the
 * audit log; no token or credential in the controller's log or in any row.
 */
import { Writable } from "node:stream";
import { status } from "@grpc/grpc-js";
import { sql } from "kysely";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ControlClient } from "../../../cli/client.js";
import { startController, type Controller } from "../../../controller/server.js";
import { getRun } from "../../../controller/store/runs.js";
import { readChunks } from "../../../controller/store/logs.js";
import { FinishReason, LogStream } from "../../../proto/gen/hodei/v1/common.js";
import { createTestStore, type TestStore } from "../../helpers/db.js";
import { FakeAgent } from "../../helpers/fake-agent.js";
import { eventually } from "../../helpers/procs.js";

const job = (name: string, selector: Record<string, string> = {}): string =>
  JSON.stringify({ apiVersion: "hodei.dev/v1", kind: "Job", metadata: { name }, spec: { run: "echo hi", selector } });

let store: TestStore;
let controller: Controller;
let admin: ControlClient;
let logText = "";
const agents: FakeAgent[] = [];
const secretsSeen: string[] = [];

const logger = () =>
  pino(
    { level: "info" },
    new Writable({
      write(chunk: Buffer, _enc, cb) {
        logText += chunk.toString();
        cb();
      },
    }),
  );

function fake(name: string, o: ConstructorParameters<typeof FakeAgent>[2] = {}): FakeAgent {
  const a = new FakeAgent(controller.address, name, o);
  agents.push(a);
  return a;
}

async function joinToken(o: { labels?: Record<string, string>; maxUses?: number; expiresInMs?: number } = {}): Promise<{ token: string; id: string }> {
  const r = await admin.createJoinToken({ labels: o.labels ?? {}, maxUses: o.maxUses ?? 1, expiresInMs: o.expiresInMs ?? 600_000, description: "test" });
  secretsSeen.push(r.token);
  return { token: r.token, id: r.info!.id };
}

async function audit(action: string) {
  return (await admin.listAudit({ action, limit: 1000 })).map((e) => ({ ...e, detail: JSON.parse(e.detailJson) as Record<string, unknown> }));
}

beforeAll(async () => {
  store = await createTestStore("postgres");
  controller = await startController({ store, listen: "127.0.0.1:0", logger: logger() });
  admin = new ControlClient(controller.address);
});

afterAll(async () => {
  for (const a of agents) a.close();
  admin?.close();
  await controller?.stop();
  await store?.dispose();
});

describe("joining", () => {
  it("refuses an agent with no token, a garbage token, a forged credential, or an API token, and audits each", async () => {
    for (const [name, token] of [
      ["no-token", ""],
      ["garbage", "not-a-token"],
      ["forged", `hodeia_${"A".repeat(43)}`],
      ["api-token", process.env.HODEI_ADMIN_TOKEN!],
    ] as const) {
      const a = fake(name, { token });
      await expect(a.welcome).rejects.toMatchObject({ code: status.UNAUTHENTICATED });
    }
    const denied = (await audit("agent.auth")).filter((e) => e.outcome === "denied").map((e) => e.detail.reason);
    expect(denied).toEqual(expect.arrayContaining(["no token", "unknown token", "unknown credential"]));
    // A refused agent never became one.
    const { agents: listed } = await admin.listAgents();
    expect(listed.map((a) => a.name)).not.toContain("garbage");
  });

  it("a single-use token admits one agent, which gets its own credential and the token's fixed labels; a second use is refused", async () => {
    const { token, id } = await joinToken({ labels: { pool: "gpu" } });
    const a = fake("gpu-1", { token, labels: { pool: "cpu", zone: "eu" } });
    const w = await a.welcome;
    expect(w.sessionToken).toMatch(/^hodeia_[0-9A-Za-z]{43}$/);
    secretsSeen.push(w.sessionToken);
    const listed = (await admin.listAgents()).agents.find((x) => x.name === "gpu-1");
    // The token's label wins over the one the agent declared; the others are kept.
    expect(listed?.labels).toEqual({ pool: "gpu", zone: "eu" });
    const b = fake("gpu-2", { token });
    await expect(b.welcome).rejects.toMatchObject({ code: status.UNAUTHENTICATED, details: expect.stringContaining(`join token ${id} cannot be used: used`) });
    const joins = await audit("agent.join");
    expect(joins.find((e) => e.outcome === "allowed" && e.target === "agent gpu-1")?.actor).toBe(`join-token:${id}`);
    expect(joins.find((e) => e.outcome === "denied" && e.detail.reason === "used join token")).toBeDefined();
    const [t] = (await admin.listJoinTokens()).filter((x) => x.id === id);
    expect(t).toMatchObject({ uses: 1, maxUses: 1 });
  });

  it("two agents racing for a token's last use: exactly one joins", async () => {
    const { token } = await joinToken({ maxUses: 1 });
    const racers = [fake("race-1", { token }), fake("race-2", { token })];
    const outcomes = await Promise.allSettled(racers.map((r) => r.welcome));
    expect(outcomes.filter((o) => o.status === "fulfilled")).toHaveLength(1);
    expect(outcomes.filter((o) => o.status === "rejected")).toHaveLength(1);
  });

  it("refuses an expired token and a revoked one", async () => {
    const expired = await joinToken({ expiresInMs: 1 });
    await new Promise((r) => setTimeout(r, 20));
    await expect(fake("late", { token: expired.token }).welcome).rejects.toMatchObject({ code: status.UNAUTHENTICATED, details: expect.stringContaining("expired") });
    const revoked = await joinToken();
    expect((await admin.revokeJoinToken(revoked.id)).revokedAtMs).toBeGreaterThan(0);
    await expect(fake("revoked", { token: revoked.token }).welcome).rejects.toMatchObject({ code: status.UNAUTHENTICATED, details: expect.stringContaining("revoked") });
    const reasons = (await audit("agent.join")).filter((e) => e.outcome === "denied").map((e) => e.detail.reason);
    expect(reasons).toEqual(expect.arrayContaining(["expired join token", "revoked join token"]));
    // The token management itself is audited, never with the token.
    const created = await audit("agent.token.create");
    expect(created.length).toBeGreaterThan(0);
    expect(JSON.stringify(created)).not.toContain(revoked.token);
  });

  it("caps the slots an agent declares", async () => {
    const a = fake("greedy", { slots: 1_000_000 });
    await a.welcome;
    const listed = (await admin.listAgents()).agents.find((x) => x.name === "greedy");
    expect(listed?.slots).toBe(256);
  });

  it("refuses bad join-token requests in plain words", async () => {
    const err = await admin.createJoinToken({ labels: { ["k".repeat(300)]: "v" }, maxUses: -1, expiresInMs: -5, description: "x".repeat(201) }).catch((e: Error) => e);
    expect(String(err)).toMatch(/label key .* must be 1\.\.253 characters.*uses must be 0 \(unlimited\) to 1000000.*ttl.*description/);
    await expect(admin.revokeJoinToken("1; drop table agents")).rejects.toMatchObject({ kind: "not_found" });
  });
});

describe("the session credential", () => {
  it("brings the same agent back on reconnect and after a controller restart; another name with it is refused", async () => {
    const first = fake("keeper");
    const w = await first.welcome;
    const credential = w.sessionToken;
    secretsSeen.push(credential);
    first.close();
    await eventually(async () => ((await admin.listAgents()).agents.find((a) => a.name === "keeper")?.state === "disconnected" ? true : undefined), "keeper to disconnect");

    const again = fake("keeper", { token: credential });
    const w2 = await again.welcome;
    expect(w2.agentId).toBe(w.agentId);
    expect(w2.sessionToken).toBe(""); // nothing new: it keeps the one it has
    again.close();

    // A new controller process on the same database knows it too.
    admin.close();
    await controller.stop();
    controller = await startController({ store, listen: "127.0.0.1:0", logger: logger() });
    admin = new ControlClient(controller.address);
    const afterRestart = fake("keeper", { token: credential });
    expect((await afterRestart.welcome).agentId).toBe(w.agentId);

    const impostor = fake("not-keeper", { token: credential });
    await expect(impostor.welcome).rejects.toMatchObject({ code: status.PERMISSION_DENIED, details: expect.stringContaining('belongs to agent "keeper"') });
  });

  it("a second connection claiming a live agent's name and id without its credential is refused; the live agent keeps its session", async () => {
    const live = fake("victim", { labels: { only: "victim" } });
    const w = await live.welcome;
    // The attacker knows the name and id (`hodei agents ls` shows them) and has a join token.
    const attacker = fake("victim", { agentId: w.agentId });
    await expect(attacker.welcome).rejects.toMatchObject({ code: status.ALREADY_EXISTS });
    // The victim still gets its runs.
    const run = await admin.submitRun({ jobJson: job("for-victim", { only: "victim" }), source: "t", idempotencyKey: "" });
    expect((await live.assigned(run.id)).runId).toBe(run.id);
    expect((await admin.listAgents()).agents.find((a) => a.name === "victim")?.state).toBe("connected");
    const denied = (await audit("agent.join")).find((e) => e.outcome === "denied" && e.target === "agent victim");
    expect(denied?.detail.reason).toBe("name connected");
  });

  it("a joined agent cannot start, log into or finish another agent's run", async () => {
    const owner = fake("owner", { labels: { only: "owner" } });
    await owner.welcome;
    const intruder = fake("intruder");
    await intruder.welcome;
    const run = await admin.submitRun({ jobJson: job("owned", { only: "owner" }), source: "t", idempotencyKey: "" });
    const { runId, attempt } = await owner.assigned(run.id);

    intruder.send({ msg: { $case: "runStarted", value: { runId, attempt, pid: 666, startedAtMs: Date.now() } } });
    intruder.send({ msg: { $case: "logBatch", value: { runId, attempt, firstSeq: 0, chunks: [{ stream: LogStream.LOG_STREAM_STDOUT, data: Buffer.from("forged output\n"), tsMs: Date.now() }] } } });
    intruder.send({
      msg: { $case: "runFinished", value: { runId, attempt, reason: FinishReason.FINISH_REASON_EXITED, exitCode: 0, signal: "", message: "", logChunks: 1, finishedAtMs: Date.now(), usage: undefined } },
    });
    // The intruder hears its reports were dropped (the controller lets it forget them), and nothing changed.
    await eventually(() => (intruder.messages.some((m) => m.msg?.$case === "logAck" && m.msg.value.runId === runId && m.msg.value.endRecorded) ? true : undefined), "the intruder's reports answered");
    expect((await getRun(store.db, runId))?.state).toBe("assigned");
    expect(await readChunks(store.db, runId, attempt, 0, 10)).toHaveLength(0);

    // The owner's own reports are taken.
    owner.send({ msg: { $case: "runStarted", value: { runId, attempt, pid: 42, startedAtMs: Date.now() } } });
    owner.send({ msg: { $case: "logBatch", value: { runId, attempt, firstSeq: 0, chunks: [{ stream: LogStream.LOG_STREAM_STDOUT, data: Buffer.from("real output\n"), tsMs: Date.now() }] } } });
    owner.send({
      msg: { $case: "runFinished", value: { runId, attempt, reason: FinishReason.FINISH_REASON_EXITED, exitCode: 3, signal: "", message: "", logChunks: 1, finishedAtMs: Date.now(), usage: undefined } },
    });
    await eventually(async () => ((await getRun(store.db, runId))?.state === "failed" ? true : undefined), "the owner's result");
    const stored = await readChunks(store.db, runId, attempt, 0, 10);
    expect(stored.map((c) => Buffer.from(c.data).toString())).toEqual(["real output\n"]);
  });
});

describe("revoking an agent", () => {
  it("closes its stream and refuses its credential from then on; it is audited", async () => {
    const a = fake("to-revoke");
    const credential = (await a.welcome).sessionToken;
    secretsSeen.push(credential);
    expect(await admin.revokeAgent("to-revoke")).toMatchObject({ name: "to-revoke" });
    expect(await a.ended).toMatchObject({ code: status.UNAUTHENTICATED, details: expect.stringContaining("this agent was revoked") });
    const back = fake("to-revoke", { token: credential });
    await expect(back.welcome).rejects.toMatchObject({ code: status.UNAUTHENTICATED, details: expect.stringContaining("credential sent is not known") });
    expect((await audit("agent.revoke")).find((e) => e.target === "agent to-revoke")?.outcome).toBe("allowed");
    await expect(admin.revokeAgent("no-such-agent")).rejects.toMatchObject({ kind: "not_found" });
  });
});

describe("no token in the clear", () => {
  it("no join token or credential appears in the controller's log or in any text or json column", async () => {
    expect(secretsSeen.length).toBeGreaterThan(3);
    for (const s of secretsSeen) expect(logText).not.toContain(s);
    const cols = await sql<{ table_name: string; column_name: string }>`
      select table_name, column_name from information_schema.columns
      where table_schema = 'public' and data_type in ('text', 'jsonb', 'json', 'character varying')`.execute(store.db);
    for (const { table_name, column_name } of cols.rows) {
      for (const s of secretsSeen) {
        const hit = await sql<{ n: number }>`select count(*)::int as n from ${sql.table(table_name)} where ${sql.ref(column_name)}::text like ${`%${s}%`}`.execute(store.db);
        expect(hit.rows[0]!.n, `${table_name}.${column_name}`).toBe(0);
      }
    }
  });
});
