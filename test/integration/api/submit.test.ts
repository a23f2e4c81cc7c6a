/**
 * SubmitRun and RerunRun through a real controller over loopback gRPC, called
 * with the CLI's real ControlClient: idempotency keys (their limit, and a key
 * reused for another request) and `triggers.manual: false`.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { pino } from "pino";
import { startController, type Controller } from "../../../controller/server.js";
import { ControlClient } from "../../../cli/client.js";
import { ControllerError } from "../../../cli/errors.js";
import { DIALECTS, createTestStore, type TestStore } from "../../helpers/db.js";

const job = (name: string, spec: Record<string, unknown> = {}): string =>
  JSON.stringify({ apiVersion: "hodei.dev/v1", kind: "Job", metadata: { name }, spec: { run: "echo hi", ...spec } });

async function failure(p: Promise<unknown>): Promise<ControllerError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err, "the call should have failed").toBeInstanceOf(ControllerError);
  return err as ControllerError;
}

describe.each(DIALECTS)("SubmitRun and RerunRun (%s)", (dialect) => {
  let store: TestStore;
  let controller: Controller;
  let client: ControlClient;

  beforeAll(async () => {
    store = await createTestStore(dialect);
    controller = await startController({ store, listen: "127.0.0.1:0", logger: pino({ level: "silent" }) });
    client = new ControlClient(controller.address);
  });
  afterAll(async () => {
    client?.close();
    await controller?.stop();
    await store?.dispose();
  });

  describe("idempotency keys", () => {
    it("a repeated key with the same request returns the first run", async () => {
      const a = await client.submitRun({ jobJson: job("same"), source: "t", idempotencyKey: "same-1" });
      const b = await client.submitRun({ jobJson: job("same"), source: "t", idempotencyKey: "same-1" });
      expect(b.id).toBe(a.id);
    });

    it("refuses a key over 200 characters instead of cutting it (two long keys with one prefix used to match)", async () => {
      const prefix = "k".repeat(200);
      const first = await failure(client.submitRun({ jobJson: job("long-a"), source: "t", idempotencyKey: `${prefix}-a` }));
      expect(first).toMatchObject({ kind: "invalid", retryable: false });
      expect(first.message).toContain("idempotency_key is 202 characters; the limit is 200");
      await failure(client.submitRun({ jobJson: job("long-b"), source: "t", idempotencyKey: `${prefix}-b` }));
      // Exactly 200 is fine.
      const ok = await client.submitRun({ jobJson: job("long-ok"), source: "t", idempotencyKey: prefix });
      expect(ok.jobName).toBe("long-ok");
      const rerun = await failure(client.rerunRun(ok.id, `${prefix}-c`));
      expect(rerun.kind).toBe("invalid");
    });

    it("answers a key reused with another job document with a conflict, not the old run", async () => {
      const a = await client.submitRun({ jobJson: job("first"), source: "t", idempotencyKey: "reused-1" });
      const err = await failure(client.submitRun({ jobJson: job("second"), source: "t", idempotencyKey: "reused-1" }));
      expect(err).toMatchObject({ kind: "conflict", retryable: false });
      expect(err.message).toContain(`idempotency key "reused-1" was already used by run ${a.id} for a different request`);
      expect((await client.listRuns({ jobName: "second" })).length).toBe(0);
    });

    it("RerunRun: the same key and run returns the same rerun; the same key for another run is a conflict", async () => {
      const a = await client.submitRun({ jobJson: job("rerun-a"), source: "t", idempotencyKey: "" });
      const b = await client.submitRun({ jobJson: job("rerun-b"), source: "t", idempotencyKey: "" });
      const r1 = await client.rerunRun(a.id, "rerun-key");
      const r2 = await client.rerunRun(a.id, "rerun-key");
      expect(r2.id).toBe(r1.id);
      expect(r1.id).not.toBe(a.id);
      const err = await failure(client.rerunRun(b.id, "rerun-key"));
      expect(err.kind).toBe("conflict");
      // A submit reusing a rerun's key is another request too.
      expect((await failure(client.submitRun({ jobJson: job("rerun-a"), source: "t", idempotencyKey: "rerun-key" }))).kind).toBe("conflict");
    });
  });

  describe("triggers.manual: false", () => {
    it("refuses SubmitRun, naming the field", async () => {
      const err = await failure(client.submitRun({ jobJson: job("auto-only", { triggers: { manual: false } }), source: "t", idempotencyKey: "" }));
      expect(err).toMatchObject({ kind: "permission", retryable: false });
      expect(err.message).toContain("triggers.manual: false");
      expect((await client.listRuns({ jobName: "auto-only" })).length).toBe(0);
    });

    it("allows manual: true and no triggers at all", async () => {
      await client.submitRun({ jobJson: job("manual-yes", { triggers: { manual: true } }), source: "t", idempotencyKey: "" });
      await client.submitRun({ jobJson: job("manual-default", { triggers: { schedule: ["0 * * * *"] } }), source: "t", idempotencyKey: "" });
    });

    it("refuses RerunRun of such a job (its run was started by something else, here the store)", async () => {
      const { insertRun } = await import("../../../controller/store/runs.js");
      const doc = JSON.parse(job("scheduled-only", { triggers: { manual: false, schedule: ["0 * * * *"] } })) as unknown;
      const { run } = await insertRun(store, { jobName: "scheduled-only", job: doc, selector: {}, priority: 0, source: "schedule" });
      const err = await failure(client.rerunRun(run.id, ""));
      expect(err.kind).toBe("permission");
      expect(err.message).toContain("triggers.manual: false");
    });
  });

  describe("the trigger of a run", () => {
    it("GetRun has the stored trigger (jsonb, both dialects), a file's run none; a rerun keeps it", async () => {
      const { insertRun } = await import("../../../controller/store/runs.js");
      const doc = JSON.parse(job("pushed")) as unknown;
      const trigger = { event: "push", repo: "web", ref: "refs/heads/main", commit: "c".repeat(40), before: "b".repeat(40), actor: "ana", deliveryId: "d-9", fork: false, via: "webhook" };
      const { run } = await insertRun(store, { jobName: "pushed", job: doc, selector: {}, priority: 0, source: "web@c", trigger });
      const got = await client.getRun(run.id);
      expect(got.trigger).toEqual({ ...trigger, base: "" });
      const rerun = await client.rerunRun(run.id, "");
      expect((await client.getRun(rerun.id)).trigger).toEqual({ ...trigger, base: "" });
      const plain = await client.submitRun({ jobJson: job("plain"), source: "t", idempotencyKey: "" });
      expect((await client.getRun(plain.id)).trigger).toBeUndefined();
    });
  });
});
