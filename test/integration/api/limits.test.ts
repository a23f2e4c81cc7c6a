/**
 * Limits on starting runs by hand (controller/api/limits.ts) through a real
 * controller: a project's queue is capped (no agent here, so runs stay
 * queued), another project is unaffected, and the refusal is retryable and
 * says which flag sets the limit.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { pino } from "pino";
import { startController, type Controller } from "../../../controller/server.js";
import { ControlClient } from "../../../cli/client.js";
import { ControllerError } from "../../../cli/errors.js";
import { DIALECTS, createTestStore, type TestStore } from "../../helpers/db.js";
import { SubmitLimiter } from "../../../controller/api/limits.js";
import { ApiError } from "../../../controller/api/errors.js";
import { sql } from "kysely";

const job = (name: string): string => JSON.stringify({ apiVersion: "hodei.dev/v1", kind: "Job", metadata: { name }, spec: { run: "echo hi" } });

describe.each(DIALECTS)("submit limits (%s)", (dialect) => {
  let store: TestStore;
  let controller: Controller;
  let client: ControlClient;

  beforeAll(async () => {
    store = await createTestStore(dialect);
    controller = await startController({ store, listen: "127.0.0.1:0", logger: pino({ level: "silent" }), maxQueuedPerProject: 3, submitRatePerSec: 0 });
    client = new ControlClient(controller.address);
  });
  afterAll(async () => {
    client?.close();
    await controller?.stop();
    await store?.dispose();
  });

  it("refuses a submit past a project's queue limit, retryably, and stores no run; other projects go on", async () => {
    for (let i = 0; i < 3; i++) await client.submitRun({ jobJson: job(`q${i}`), source: "t", idempotencyKey: "" });
    const err = await client.submitRun({ jobJson: job("one-too-many"), source: "t", idempotencyKey: "" }).then(
      () => undefined,
      (e: unknown) => e as ControllerError,
    );
    expect(err).toBeInstanceOf(ControllerError);
    expect(err!.retryable).toBe(true);
    expect(err!.message).toBe("project default already has 3 queued runs, the most allowed; retry when some have started. The controller's --max-queued-per-project sets the limit");
    expect((await client.listRuns({ limit: 100 })).map((r) => r.jobName)).not.toContain("one-too-many");
    expect((await client.submitRun({ jobJson: job("elsewhere"), source: "t", idempotencyKey: "", project: "web" })).state).toBe("queued");
    // A rerun of a queued run would queue one more: refused the same way; a cancel makes room.
    const first = (await client.listRuns({ limit: 100, states: ["queued"] })).find((r) => r.project === "default");
    expect(await client.rerunRun(first!.id, "").then(() => "accepted", (e: Error) => e.message)).toMatch(/already has 3 queued runs/);
    await client.cancelRun(first!.id);
    expect((await client.submitRun({ jobJson: job("room-again"), source: "t", idempotencyKey: "" })).state).toBe("queued");
  });
});

describe("the submit rate through the wire", () => {
  it("refuses the submit past the burst with RESOURCE_EXHAUSTED, retryable, naming --submit-rate", async () => {
    const store = await createTestStore("pglite");
    const c = await startController({ store, listen: "127.0.0.1:0", logger: pino({ level: "silent" }), submitRatePerSec: 1 });
    const client = new ControlClient(c.address);
    try {
      // Ten at once against a burst of two: whatever the machine's speed, most are refused (a second refills one).
      const results = await Promise.all(
        Array.from({ length: 10 }, (_, i) => client.submitRun({ jobJson: job(`r${i}`), source: "t", idempotencyKey: "" }).then(() => "ok", (e: ControllerError) => `${e.retryable}: ${e.message}`)),
      );
      const refused = results.filter((r) => r !== "ok");
      expect(results.filter((r) => r === "ok").length).toBeGreaterThanOrEqual(2);
      expect(refused.length).toBeGreaterThan(0);
      for (const r of refused) expect(r).toMatch(/^true: rate limited: .* may start 1 runs a second \(bursts of 2\); retry in \d+ ms\. The controller's --submit-rate sets the limit$/);
    } finally {
      client.close();
      await c.stop();
      await store.dispose();
    }
  });
});

describe.each(DIALECTS)("the queue count (%s)", (dialect) => {
  let store: TestStore;
  beforeAll(async () => {
    store = await createTestStore(dialect);
  });
  afterAll(() => store?.dispose());

  it("trusts a project's queue count for a second while well under the limit, and counts on every submit near it", async () => {
    let t = 1_000_000;
    const limiter = new SubmitLimiter({ ratePerSec: 0, maxQueuedPerProject: 10 }, () => t);
    const queue = async (project: string, n: number): Promise<void> => {
      await sql`insert into runs (job_name, job, selector, priority, state, source, project) select 'j', '{}'::jsonb, '{}'::jsonb, 50, 'queued', 't', ${project} from generate_series(1, ${n})`.execute(store.db);
    };
    const refused = (project: string) => limiter.checkQueue(store.db, project).then(() => false, (e: unknown) => e instanceof ApiError && e.message.includes(`project ${project} already has 10 queued runs`));
    // Well under the limit: another controller fills the queue behind this one's back; within the second the count it read stands.
    const calm = `calm-${dialect}`;
    expect(await refused(calm)).toBe(false); // counts 0
    await queue(calm, 10);
    expect(await refused(calm)).toBe(false);
    t += 1_000;
    expect(await refused(calm)).toBe(true); // counted again: 10
    // Near the limit (within 10%), every submit counts: a fill behind its back is seen in the same second.
    const busy = `busy-${dialect}`;
    await queue(busy, 8);
    expect(await refused(busy)).toBe(false); // counts 8; with this submit, 9: near the limit
    await queue(busy, 2);
    expect(await refused(busy)).toBe(true);
  });
});
