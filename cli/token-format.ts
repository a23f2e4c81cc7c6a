/** API tokens and audit entries for people and for --json. Never the token itself: only its prefix. */
import type { ApiToken, AuditEntry, JoinToken } from "../proto/gen/hodei/v1/auth.js";

const iso = (ms: number): string | null => (ms ? new Date(ms).toISOString() : null);

export function tokenJson(t: ApiToken): Record<string, unknown> {
  return {
    id: t.id,
    name: t.name,
    role: t.role,
    projects: t.projects,
    prefix: t.prefix,
    createdAt: iso(t.createdAtMs),
    createdBy: t.createdBy,
    expiresAt: iso(t.expiresAtMs),
    revokedAt: iso(t.revokedAtMs),
    lastUsedAt: iso(t.lastUsedAtMs),
  };
}

export function tokenState(t: ApiToken, now = Date.now()): string {
  if (t.revokedAtMs) return "revoked";
  if (t.expiresAtMs && t.expiresAtMs <= now) return "expired";
  return "active";
}

export function auditJson(e: AuditEntry): Record<string, unknown> {
  let detail: unknown;
  try {
    detail = JSON.parse(e.detailJson || "{}");
  } catch {
    detail = e.detailJson;
  }
  return { id: e.id, at: iso(e.atMs), actor: e.actor, action: e.action, target: e.target, outcome: e.outcome, detail, source: e.source };
}

export function joinTokenJson(t: JoinToken): Record<string, unknown> {
  return {
    id: t.id,
    prefix: t.prefix,
    description: t.description,
    labels: t.labels,
    maxUses: t.maxUses || null,
    uses: t.uses,
    createdAt: iso(t.createdAtMs),
    createdBy: t.createdBy,
    expiresAt: iso(t.expiresAtMs),
    revokedAt: iso(t.revokedAtMs),
    lastUsedAt: iso(t.lastUsedAtMs),
  };
}

export function joinTokenState(t: JoinToken, now = Date.now()): string {
  if (t.revokedAtMs) return "revoked";
  if (t.expiresAtMs && t.expiresAtMs <= now) return "expired";
  if (t.maxUses && t.uses >= t.maxUses) return "used";
  return "active";
}
