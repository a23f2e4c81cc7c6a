/**
 * The SQL of the audit log (migrations/011_auth.ts): append and read. There is
 * no update or delete here, and the table's trigger refuses both.
 */
import type { Db } from "./db.js";
import type { AuditOutcome, AuditRow } from "./schema.js";

export interface AuditEntry {
  actor: string;
  action: string;
  target?: string;
  outcome: AuditOutcome;
  detail?: Record<string, unknown>;
  source?: string;
}

const clip = (s: string, n: number): string => (s.length > n ? s.slice(0, n) : s);

export async function appendAudit(db: Db, e: AuditEntry): Promise<void> {
  await db
    .insertInto("audit_log")
    .values({
      actor: clip(e.actor, 200),
      action: clip(e.action, 100),
      target: clip(e.target ?? "", 500),
      outcome: e.outcome,
      detail: JSON.stringify(e.detail ?? {}),
      source: clip(e.source ?? "", 200),
    })
    .execute();
}

export interface AuditQuery {
  since?: Date;
  actor?: string;
  action?: string;
  limit: number;
}

/** Newest first. */
export async function listAudit(db: Db, q: AuditQuery): Promise<AuditRow[]> {
  let s = db.selectFrom("audit_log").selectAll().orderBy("id", "desc").limit(q.limit);
  if (q.since) s = s.where("at", ">=", q.since);
  if (q.actor) s = s.where("actor", "=", q.actor);
  if (q.action) s = s.where("action", "=", q.action);
  return s.execute();
}
