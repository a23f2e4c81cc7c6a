/**
 * The SQL of webhook deliveries (migrations/008_webhook_deliveries.ts): the
 * record of every request, and the claim that makes a redelivery start nothing.
 */
import type { Db } from "./db.js";
import type { WebhookDeliveryRow } from "./schema.js";

/** Rows kept per repo (and for requests that named no known repo); older ones are pruned. */
export const KEEP_DELIVERIES = 1000;

export interface DeliveryRecord {
  provider: string;
  deliveryId: string;
  repoId?: string;
  event: string;
  status: number;
  outcome: string;
}

const clip = (s: string, n: number): string => (s.length > n ? s.slice(0, n) : s);

function values(r: DeliveryRecord, claim: string | null) {
  return {
    provider: clip(r.provider, 50),
    delivery_id: clip(r.deliveryId, 200),
    claim,
    repo_id: r.repoId ?? null,
    event: clip(r.event, 100),
    status: r.status,
    outcome: clip(r.outcome, 1000),
  };
}

/** Records a request that claims nothing (refused, ignored, or a duplicate), then prunes. */
export async function recordDelivery(db: Db, r: DeliveryRecord): Promise<string> {
  const row = await db.insertInto("webhook_deliveries").values(values(r, null)).returning("id").executeTakeFirstOrThrow();
  await prune(db, r.repoId, row.id);
  return row.id;
}

/**
 * Claims a verified delivery for its repo: the row's id for the first claimer,
 * undefined when the delivery was claimed before (a redelivery or a replay).
 */
export async function claimDelivery(db: Db, r: DeliveryRecord & { repoId: string }): Promise<string | undefined> {
  const claim = `${r.provider}:${r.repoId}:${clip(r.deliveryId, 200)}`;
  const row = await db
    .insertInto("webhook_deliveries")
    .values(values(r, claim))
    .onConflict((oc) => oc.column("claim").doNothing())
    .returning("id")
    .executeTakeFirst();
  if (row) await prune(db, r.repoId, row.id);
  return row?.id;
}

/** Sets what was answered and what happened; `release` gives the claim up so a redelivery may try again. */
export async function finishDelivery(db: Db, id: string, status: number, outcome: string, release = false): Promise<void> {
  await db
    .updateTable("webhook_deliveries")
    .set({ status, outcome: clip(outcome, 1000), ...(release ? { claim: null } : {}) })
    .where("id", "=", id)
    .execute();
}

/** Every 50th row, deletes the repo's rows beyond the newest KEEP_DELIVERIES. */
async function prune(db: Db, repoId: string | undefined, id: string): Promise<void> {
  if (BigInt(id) % 50n !== 0n) return;
  const cutoff = await db
    .selectFrom("webhook_deliveries")
    .select("id")
    .where((eb) => (repoId === undefined ? eb("repo_id", "is", null) : eb("repo_id", "=", repoId)))
    .orderBy("id", "desc")
    .offset(KEEP_DELIVERIES - 1)
    .limit(1)
    .executeTakeFirst();
  if (!cutoff) return;
  await db
    .deleteFrom("webhook_deliveries")
    .where((eb) => (repoId === undefined ? eb("repo_id", "is", null) : eb("repo_id", "=", repoId)))
    .where("id", "<", cutoff.id)
    .execute();
}

/** The newest deliveries, of one repo or of all. */
export async function listDeliveries(db: Db, o: { repoId?: string; limit: number }): Promise<WebhookDeliveryRow[]> {
  let q = db.selectFrom("webhook_deliveries").selectAll().orderBy("id", "desc").limit(o.limit);
  if (o.repoId !== undefined) q = q.where("repo_id", "=", o.repoId);
  return q.execute();
}
