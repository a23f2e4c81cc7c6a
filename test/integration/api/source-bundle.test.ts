/**
 * Source bundles through a real controller over loopback gRPC: SubmitRun
 * stores them by SHA-256 and names them on the run, RerunRun keeps them, an
 * idempotency key tells bundles apart, the limit holds, and an agent reads them
 * back with FetchSource in chunks — only the agent a run with that bundle is
 * assigned to, by its credential (a fake agent stands for it: the test drives
 * its stream).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createHash, randomBytes } from "node:crypto";
import * as grpc from "@grpc/grpc-js";
import { pino } from "pino";
import { startController, type Controller } from "../../../controller/server.js";
import { ControlClient } from "../../../cli/client.js";
import { ControllerError } from "../../../cli/errors.js";
import { AgentServiceClient, type SourceChunk } from "../../../proto/gen/hodei/v1/agent.js";
import { DIALECTS, createTestStore, type TestStore } from "../../helpers/db.js";
import { FakeAgent } from "../../helpers/fake-agent.js";
import { agentMetadata } from "../../helpers/agent-auth.js";

const job = (name: string): string => JSON.stringify({ apiVersion: "hodei.dev/v1", kind: "Job", metadata: { name }, spec: { run: "echo hi" } });
const sha = (b: Buffer): string => createHash("sha256").update(b).digest("hex");

function fetchSource(client: AgentServiceClient, digest: string, md: grpc.Metadata): Promise<Buffer[]> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const call = client.fetchSource({ digest }, md);
    call.on("data", (c: SourceChunk) => chunks.push(Buffer.from(c.data)));
    call.on("error", reject);
    call.on("end", () => resolve(chunks));
  });
}

describe.each(DIALECTS)("source bundles (%s)", (dialect) => {
  let store: TestStore;
  let controller: Controller;
  let client: ControlClient;
  let agentClient: AgentServiceClient;
  let agent: FakeAgent;
  let md: grpc.Metadata;

  beforeAll(async () => {
    store = await createTestStore(dialect);
    controller = await startController({ store, listen: "127.0.0.1:0", logger: pino({ level: "silent" }) });
    client = new ControlClient(controller.address);
    agentClient = new AgentServiceClient(controller.address, grpc.credentials.createInsecure());
    // Takes every run: the only agent, with room for all of them.
    agent = new FakeAgent(controller.address, "src-agent", { slots: 50 });
    md = await agent.metadata();
  });
  afterAll(async () => {
    agent?.close();
    agentClient?.close();
    client?.close();
    await controller?.stop();
    await store?.dispose();
  });

  const digestOf = async (runId: string): Promise<string | null> =>
    (await store.db.selectFrom("runs").select("source_digest").where("id", "=", runId).executeTakeFirstOrThrow()).source_digest;

  it("stores a bundle once by its SHA-256, names it on the run and on its rerun, and serves it back in 1 MiB chunks", async () => {
    const bundle = randomBytes(2_500_000);
    const a = await client.submitRun({ jobJson: job("with-src"), source: "t", idempotencyKey: "src-a", sourceBundle: bundle });
    const b = await client.submitRun({ jobJson: job("with-src"), source: "t", idempotencyKey: "src-b", sourceBundle: bundle });
    expect(await digestOf(a.id)).toBe(sha(bundle));
    expect(await digestOf(b.id)).toBe(sha(bundle));
    const rows = await store.db.selectFrom("source_bundles").select("digest").where("digest", "=", sha(bundle)).execute();
    expect(rows).toHaveLength(1);
    const rerun = await client.rerunRun(a.id, "src-rerun");
    expect(await digestOf(rerun.id)).toBe(sha(bundle));

    await agent.assigned(a.id);
    const chunks = await fetchSource(agentClient, sha(bundle), md);
    expect(chunks.map((c) => c.length)).toEqual([1 << 20, 1 << 20, 2_500_000 - 2 * (1 << 20)]);
    expect(Buffer.concat(chunks).equals(bundle)).toBe(true);
  });

  it("a run without a bundle has none", async () => {
    const r = await client.submitRun({ jobJson: job("no-src"), source: "t", idempotencyKey: "src-none" });
    expect(await digestOf(r.id)).toBeNull();
  });

  it("an idempotency key reused with another bundle is a conflict, not the first run", async () => {
    await client.submitRun({ jobJson: job("k"), source: "t", idempotencyKey: "src-key", sourceBundle: Buffer.from("one") });
    const err = await client.submitRun({ jobJson: job("k"), source: "t", idempotencyKey: "src-key", sourceBundle: Buffer.from("two") }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ControllerError);
    expect((err as Error).message).toContain('idempotency key "src-key" was already used');
  });

  it("refuses a bundle over 15 MiB", async () => {
    const err = await client.submitRun({ jobJson: job("big"), source: "t", idempotencyKey: "src-big", sourceBundle: Buffer.alloc(15 * 1024 * 1024 + 1) }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ControllerError);
    expect(err).toMatchObject({ kind: "invalid" });
    expect((err as Error).message).toContain(`source bundle is ${15 * 1024 * 1024 + 1} bytes; the limit is ${15 * 1024 * 1024}`);
  });

  it("FetchSource refuses a digest no run of the agent names, and a malformed one", async () => {
    await expect(fetchSource(agentClient, "0".repeat(64), md)).rejects.toMatchObject({ code: grpc.status.PERMISSION_DENIED });
    await expect(fetchSource(agentClient, "../etc/passwd", md)).rejects.toMatchObject({ code: grpc.status.INVALID_ARGUMENT });
  });

  it("FetchSource serves a bundle only to the agent its run is assigned to, by its credential", async () => {
    const bundle = randomBytes(1000);
    const run = await client.submitRun({ jobJson: job("private-src"), source: "t", idempotencyKey: "src-private", sourceBundle: bundle });
    await agent.assigned(run.id);
    expect(Buffer.concat(await fetchSource(agentClient, sha(bundle), md)).equals(bundle)).toBe(true);
    // Another joined agent (it has its own credential) has no run with this bundle.
    const other = new FakeAgent(controller.address, "src-other", { slots: 1 });
    try {
      await expect(fetchSource(agentClient, sha(bundle), await other.metadata())).rejects.toMatchObject({ code: grpc.status.PERMISSION_DENIED });
    } finally {
      other.close();
    }
    // A join token is not a credential; nothing at all, or a forged credential, is no one.
    await expect(fetchSource(agentClient, sha(bundle), agentMetadata())).rejects.toMatchObject({ code: grpc.status.UNAUTHENTICATED });
    await expect(fetchSource(agentClient, sha(bundle), agentMetadata(""))).rejects.toMatchObject({ code: grpc.status.UNAUTHENTICATED });
    await expect(fetchSource(agentClient, sha(bundle), agentMetadata(`hodeia_${"x".repeat(43)}`))).rejects.toMatchObject({ code: grpc.status.UNAUTHENTICATED });
  });
});
