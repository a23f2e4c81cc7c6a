/**
 * AuthService: API tokens and the audit log (proto/hodei/v1/auth.proto). The
 * guard (auth/guard.ts) has already checked that the caller is an admin for
 * every project, except for WhoAmI.
 */
import type { Logger } from "pino";
import type { ApiToken, AuthServiceServer } from "../../proto/gen/hodei/v1/auth.js";
import type { Db } from "../store/db.js";
import type { ApiTokenRow } from "../store/schema.js";
import { insertToken, listTokens, revokeToken } from "../store/tokens.js";
import { listAudit } from "../store/audit.js";
import { displayPrefix, generateToken, hashToken } from "../auth/tokens.js";
import { PROJECT_NAME, principalOf } from "../auth/principal.js";
import { ROLES, type Role } from "../auth/permissions.js";
import { ApiError, conflict, invalid, notFound } from "./errors.js";
import { unaryHandler } from "./unary.js";
import { status } from "@grpc/grpc-js";
import { ms } from "./convert.js";

const TOKEN_NAME = /^[A-Za-z0-9][A-Za-z0-9._@-]{0,99}$/;

export function tokenToProto(r: ApiTokenRow): ApiToken {
  return {
    id: r.id,
    name: r.name,
    role: r.role,
    projects: r.projects,
    prefix: r.prefix,
    createdAtMs: ms(r.created_at),
    createdBy: r.created_by,
    expiresAtMs: ms(r.expires_at),
    revokedAtMs: ms(r.revoked_at),
    lastUsedAtMs: ms(r.last_used_at),
  };
}

/** AuthService's token and audit calls; its join-token calls are join-tokens.ts. */
export function authService(deps: { db: Db; log: Logger }): Pick<AuthServiceServer, "createToken" | "listTokens" | "revokeToken" | "whoAmI" | "listAudit"> {
  const { db, log } = deps;
  const unary = unaryHandler(log);
  return {
    createToken: unary("CreateToken", async (req, call) => {
      if (!TOKEN_NAME.test(req.name)) throw invalid(`token name "${req.name.slice(0, 100)}" must be letters, digits, '.', '_', '@' or '-', starting with a letter or digit, at most 100 characters`);
      if (!ROLES.includes(req.role as Role)) throw invalid(`role "${req.role.slice(0, 50)}" must be one of ${ROLES.join(", ")}`);
      const bad = req.projects.find((p) => !PROJECT_NAME.test(p));
      if (bad !== undefined) throw invalid(`project "${bad.slice(0, 100)}" must be lower case letters, digits, '.', '_' or '-', starting with a letter or digit, at most 63 characters`);
      if (req.projects.length > 100) throw invalid("a token may name at most 100 projects");
      if (req.expiresInMs < 0 || req.expiresInMs > 10 * 365 * 86_400_000) throw invalid("expiry must be positive and at most 10 years");
      const token = generateToken();
      const row = await insertToken(db, {
        name: req.name,
        role: req.role as Role,
        projects: [...new Set(req.projects)],
        tokenHash: hashToken(token),
        prefix: displayPrefix(token),
        createdBy: principalOf(call)?.name ?? "",
        expiresAt: req.expiresInMs ? new Date(Date.now() + req.expiresInMs) : undefined,
      });
      if (!row) throw conflict(`a token named ${req.name} exists (revoked tokens keep their names); choose another --name`, status.ALREADY_EXISTS);
      return { info: tokenToProto(row), token };
    }),

    listTokens: unary("ListTokens", async () => ({ tokens: (await listTokens(db)).map(tokenToProto) })),

    revokeToken: unary("RevokeToken", async (req) => {
      if (!req.token || req.token.length > 200) throw invalid("name a token by its id or name (hodei tokens ls)");
      const row = await revokeToken(db, req.token);
      if (!row) throw notFound(`token ${req.token}`);
      return tokenToProto(row);
    }),

    whoAmI: unary("WhoAmI", async (_req, call) => {
      const p = principalOf(call);
      if (!p) throw new ApiError("permission", "no caller", { code: status.UNAUTHENTICATED });
      const row = (await listTokens(db)).find((t) => t.id === p.tokenId);
      if (!row) throw notFound("token");
      return tokenToProto(row);
    }),

    listAudit: unary("ListAudit", async (req) => {
      const limit = Math.min(Math.max(req.limit || 100, 1), 10_000);
      const rows = await listAudit(db, { limit, since: req.sinceMs ? new Date(req.sinceMs) : undefined, actor: req.actor || undefined, action: req.action || undefined });
      return {
        entries: rows.map((r) => ({ id: r.id, atMs: r.at.getTime(), actor: r.actor, action: r.action, target: r.target, outcome: r.outcome, detailJson: JSON.stringify(r.detail), source: r.source })),
      };
    }),
  };
}
