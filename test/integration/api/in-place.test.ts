/**
 * Runs in place (SubmitRunRequest.in_place_dir) through a real controller over
 * loopback gRPC: only a controller started with allowInPlace (the embedded
 * daemon's) accepts one, for an absolute path to an existing directory, never
 * beside a source bundle; the run keeps the directory, and so does its rerun.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as grpc from "@grpc/grpc-js";
import { pino } from "pino";
import { startController, type Controller } from "../../../controller/server.js";
import { ControlClient } from "../../../cli/client.js";
import { ControllerError } from "../../../cli/errors.js";
import { ControlServiceClient, SubmitRunRequest, type Run } from "../../../proto/gen/hodei/v1/control.js";
import { DIALECTS, createTestStore, type TestStore } from "../../helpers/db.js";

const job = (name: string): string => JSON.stringify({ apiVersion: "hodei.dev/v1", kind: "Job", metadata: { name }, spec: { run: "echo hi" } });

/** SubmitRun on the generated client itself: the status code as the wire carries it. */
/** SubmitRun on a raw client (no CLI-side checks), with the admin token the test setup seeds (HODEI_TOKEN). */
function rawSubmit(client: ControlServiceClient, req: Partial<SubmitRunRequest>): Promise<Run> {
  const md = new grpc.Metadata();
  md.set("authorization", `Bearer ${process.env.HODEI_TOKEN ?? ""}`);
  return new Promise((resolve, reject) => client.submitRun(SubmitRunRequest.fromPartial(req), md, (err, run) => (err ? reject(err) : resolve(run))));
}

describe.each(DIALECTS)("runs in place (%s)", (dialect) => {
  let store: TestStore;
  let embedded: Controller;
  let plain: Controller;
  let client: ControlClient;
  let plainClient: ControlClient;
  let plainRaw: ControlServiceClient;
  let dir: string;

  beforeAll(async () => {
    store = await createTestStore(dialect);
    const logger = pino({ level: "silent" });
    // Two controllers on one database: the embedded daemon's, and one started as `hodei controller` is.
    embedded = await startController({ store, listen: "127.0.0.1:0", logger, allowInPlace: true });
    plain = await startController({ store, listen: "127.0.0.1:0", logger });
    client = new ControlClient(embedded.address);
    plainClient = new ControlClient(plain.address);
    plainRaw = new ControlServiceClient(plain.address, grpc.credentials.createInsecure());
    dir = mkdtempSync(join(tmpdir(), "hodei-in-place-api-"));
    writeFileSync(join(dir, "a-file"), "x");
  });
  afterAll(async () => {
    plainRaw?.close();
    plainClient?.close();
    client?.close();
    await plain?.stop();
    await embedded?.stop();
    await store?.dispose();
    rmSync(dir, { recursive: true, force: true });
  });

  const workspaceDirOf = async (runId: string): Promise<string | null> =>
    (await store.db.selectFrom("runs").select("workspace_dir").where("id", "=", runId).executeTakeFirstOrThrow()).workspace_dir;
  const runCount = async (): Promise<number> => (await store.db.selectFrom("runs").select("id").execute()).length;

  it("a controller not started to allow it refuses in_place_dir with FAILED_PRECONDITION, and makes no run", async () => {
    const before = await runCount();
    const err = await rawSubmit(plainRaw, { jobJson: job("ip"), source: "t", idempotencyKey: "ip-refused", inPlaceDir: dir }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: grpc.status.FAILED_PRECONDITION });
    expect((err as grpc.ServiceError).details).toContain("--in-place runs the job in the submitter's working tree, so it needs the embedded controller");
    expect(await runCount()).toBe(before);
  });

  it("the embedded daemon's controller stores the directory on the run, and a rerun keeps it", async () => {
    const run = await client.submitRun({ jobJson: job("ip"), source: "t", idempotencyKey: "ip-ok", inPlaceDir: dir });
    expect(await workspaceDirOf(run.id)).toBe(dir);
    expect(run.inPlaceDir).toBe(dir); // what `hodei run --in-place` checks came back
    const again = await client.rerunRun(run.id, "ip-ok-rerun");
    expect(again.id).not.toBe(run.id);
    expect(await workspaceDirOf(again.id)).toBe(dir);
    expect(again.inPlaceDir).toBe(dir);
    // A run without it has none.
    const plainRun = await client.submitRun({ jobJson: job("ip"), source: "t", idempotencyKey: "ip-none" });
    expect(await workspaceDirOf(plainRun.id)).toBeNull();
    expect(plainRun.inPlaceDir).toBe("");
  });

  it("a rerun of a run in place is refused by a controller that does not allow it", async () => {
    const run = await client.submitRun({ jobJson: job("ip"), source: "t", idempotencyKey: "ip-rerun-src", inPlaceDir: dir });
    const err = await plainClient.rerunRun(run.id, "ip-rerun-plain").catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ControllerError);
    expect(err).toMatchObject({ kind: "conflict" });
    expect((err as Error).message).toContain("needs the embedded controller");
  });

  it("refuses a relative path, a missing directory, a file, an oversized path and a bundle beside it", async () => {
    const cases: [string, Partial<SubmitRunRequest>, string, string][] = [
      ["relative", { inPlaceDir: "some/dir" }, "invalid", 'in_place_dir must be an absolute path, got "some/dir"'],
      ["missing", { inPlaceDir: join(dir, "nope") }, "conflict", `cannot run in place in ${join(dir, "nope")}: it does not exist`],
      ["file", { inPlaceDir: join(dir, "a-file") }, "conflict", `cannot run in place in ${join(dir, "a-file")}: it is not a directory`],
      ["long", { inPlaceDir: `/${"x".repeat(5000)}` }, "invalid", "in_place_dir is 5001 characters; the limit is 4096"],
      ["nul", { inPlaceDir: `${dir}\0x` }, "invalid", "in_place_dir contains a NUL character"],
      ["bundle", { inPlaceDir: dir, sourceBundle: Buffer.from("tar") }, "invalid", "it cannot also have a source bundle"],
    ];
    const before = await runCount();
    for (const [name, extra, kind, message] of cases) {
      const err = await client.submitRun({ jobJson: job("ip"), source: "t", idempotencyKey: `ip-bad-${name}`, ...extra }).catch((e: unknown) => e);
      expect(err, name).toBeInstanceOf(ControllerError);
      expect(err, name).toMatchObject({ kind });
      expect((err as Error).message, name).toContain(message);
    }
    expect(await runCount()).toBe(before);
  });

  it("an idempotency key reused for another directory (or none) is a conflict, not the first run", async () => {
    const first = await client.submitRun({ jobJson: job("ip"), source: "t", idempotencyKey: "ip-key", inPlaceDir: dir });
    expect((await client.submitRun({ jobJson: job("ip"), source: "t", idempotencyKey: "ip-key", inPlaceDir: dir })).id).toBe(first.id);
    const err = await client.submitRun({ jobJson: job("ip"), source: "t", idempotencyKey: "ip-key" }).catch((e: unknown) => e);
    expect((err as Error).message).toContain('idempotency key "ip-key" was already used');
  });
});
