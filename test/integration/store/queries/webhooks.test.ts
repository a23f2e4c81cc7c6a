/**
 * The SQL of webhook deliveries on both dialects: a verified delivery is
 * claimed once per repo (the dedupe), a refused one never claims, a released
 * claim can be taken again, and the record stays bounded.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { insertRepo } from "../../../../controller/store/repos.js";
import { KEEP_DELIVERIES, claimDelivery, finishDelivery, listDeliveries, recordDelivery } from "../../../../controller/store/webhooks.js";
import { DIALECTS, createTestStore, type TestStore } from "../../../helpers/db.js";

describe.each(DIALECTS)("%s", (dialect) => {
  let store: TestStore;
  let a: string;
  let b: string;
  beforeAll(async () => {
    store = await createTestStore(dialect);
    const repo = (name: string) => insertRepo(store.db, { name, url: `https://example.com/acme/${name}`, branch: "main", path: ".hodei", platform: false, webhookSecret: "x", pollIntervalMs: 0 });
    a = (await repo("a"))!.id;
    b = (await repo("b"))!.id;
  });
  afterAll(() => store?.dispose());

  const d = (repoId: string, deliveryId = "d-1") => ({ provider: "github", deliveryId, repoId, event: "push", status: 202, outcome: "processing" });

  it("claims a delivery once per repo; refusals with the same id never block it", async () => {
    await recordDelivery(store.db, { ...d(a, "d-1"), status: 401, outcome: "bad signature" });
    const first = await claimDelivery(store.db, d(a));
    expect(first).toBeDefined();
    expect(await claimDelivery(store.db, d(a))).toBeUndefined();
    expect(await claimDelivery(store.db, d(b))).toBeDefined(); // another repo, same delivery
    expect(await claimDelivery(store.db, { ...d(a), provider: "gitlab" })).toBeDefined();
    await finishDelivery(store.db, first!, 200, "started build");
    const rows = await listDeliveries(store.db, { repoId: a, limit: 10 });
    expect(rows.map((r) => [r.status, r.outcome])).toContainEqual([200, "started build"]);
    expect(rows.map((r) => [r.status, r.outcome])).toContainEqual([401, "bad signature"]);
  });

  it("a released claim (failed work) can be claimed again", async () => {
    const id = await claimDelivery(store.db, d(a, "d-2"));
    expect(await claimDelivery(store.db, d(a, "d-2"))).toBeUndefined();
    await finishDelivery(store.db, id!, 500, "failed: fetch", true);
    expect(await claimDelivery(store.db, d(a, "d-2"))).toBeDefined();
  });

  it(`keeps at most about ${KEEP_DELIVERIES} rows of requests that named no repo`, async () => {
    for (let i = 0; i < KEEP_DELIVERIES + 120; i++) await recordDelivery(store.db, { provider: "github", deliveryId: `x-${i}`, event: "push", status: 404, outcome: "unknown repository" });
    const n = (await store.db.selectFrom("webhook_deliveries").select((eb) => eb.fn.countAll().as("n")).where("repo_id", "is", null).executeTakeFirstOrThrow()).n;
    expect(Number(n)).toBeLessThanOrEqual(KEEP_DELIVERIES + 50);
    expect(Number(n)).toBeGreaterThanOrEqual(KEEP_DELIVERIES);
    // The repos' rows are untouched by another group's pruning.
    expect((await listDeliveries(store.db, { repoId: a, limit: 100 })).length).toBeGreaterThan(0);
  }, 120_000);
});
