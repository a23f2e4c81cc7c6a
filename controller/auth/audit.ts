/**
 * The one way an audit entry is written: a row in the append-only audit_log
 * (migrations/011_auth.ts) and the same entry in the controller's structured
 * log (`audit: true`), so it can be shipped to a SIEM. Any action name is
 * taken ("run.submit", "token.create", "webhook.reject", "agent.join", ...).
 * A failed insert (database down) is logged, with the entry, and never fails
 * the caller's request.
 */
import type { Logger } from "pino";
import type { Db } from "../store/db.js";
import { appendAudit, type AuditEntry } from "../store/audit.js";

export type { AuditEntry };
export type Audit = (e: AuditEntry) => Promise<void>;

export function auditor(db: Db, log: Logger): Audit {
  return async (e) => {
    const line = { audit: true, actor: e.actor, action: e.action, target: e.target ?? "", outcome: e.outcome, detail: e.detail ?? {}, source: e.source ?? "" };
    if (e.outcome === "allowed") log.info(line, "audit");
    else log.warn(line, "audit");
    try {
      await appendAudit(db, e);
    } catch (err) {
      log.error({ err, ...line }, "audit entry not stored");
    }
  };
}
