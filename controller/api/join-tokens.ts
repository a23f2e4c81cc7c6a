/**
 * AuthService's agent-enrolment calls (proto/hodei/v1/auth.proto): the join
 * tokens an agent presents once to join (controller/agents/identity.ts), and
 * revoking a joined agent's credential. The guard
 * (auth/guard.ts) has already checked for an operator token for every project.
 */
import type { Logger } from "pino";
import type { AuthServiceServer, JoinToken } from "../../proto/gen/hodei/v1/auth.js";
import type { Db } from "../store/db.js";
import type { AgentJoinTokenRow } from "../store/schema.js";
import { insertJoinToken, listJoinTokens, revokeJoinToken } from "../store/join-tokens.js";
import { revokeAgentCredential } from "../store/agents.js";
import type { Bus } from "../bus/bus.js";
import { newJoinToken } from "../agents/identity.js";
import { labelsProblem } from "../agents/limits.js";
import { hashToken } from "../auth/tokens.js";
import { principalOf } from "../auth/principal.js";
import { invalid, notFound } from "./errors.js";
import { unaryHandler } from "./unary.js";
import { ms } from "./convert.js";

/** Enough of a join token to tell it apart (`hodeij_` and 6 characters). */
const PREFIX_CHARS = 13;

export function joinTokenToProto(r: AgentJoinTokenRow): JoinToken {
  return {
    id: r.id,
    prefix: r.prefix,
    description: r.description,
    labels: r.labels,
    maxUses: r.max_uses ?? 0,
    uses: r.uses,
    createdAtMs: ms(r.created_at),
    createdBy: r.created_by,
    expiresAtMs: ms(r.expires_at),
    revokedAtMs: ms(r.revoked_at),
    lastUsedAtMs: ms(r.last_used_at),
  };
}

type JoinTokenCalls = Pick<AuthServiceServer, "createJoinToken" | "listJoinTokens" | "revokeJoinToken" | "revokeAgent">;

export function joinTokenService(deps: { db: Db; bus: Bus; log: Logger }): JoinTokenCalls {
  const { db, log } = deps;
  const unary = unaryHandler(log);
  return {
    createJoinToken: unary("CreateJoinToken", async (req, call) => {
      const problems: string[] = [];
      const labelProblem = labelsProblem(req.labels);
      if (labelProblem) problems.push(labelProblem);
      if (!Number.isInteger(req.maxUses) || req.maxUses < 0 || req.maxUses > 1_000_000) problems.push("uses must be 0 (unlimited) to 1000000");
      if (req.expiresInMs < 0 || req.expiresInMs > 365 * 86_400_000) problems.push("the token's lifetime (ttl) must be 0 (never expires) to 365 days");
      if (req.description.length > 200) problems.push("the description may have at most 200 characters");
      if (problems.length) throw invalid(problems.join("; "));
      const token = newJoinToken();
      const row = await insertJoinToken(db, {
        tokenHash: hashToken(token),
        prefix: token.slice(0, PREFIX_CHARS),
        description: req.description,
        labels: req.labels,
        maxUses: req.maxUses || undefined,
        createdBy: principalOf(call)?.name ?? "",
        expiresAt: req.expiresInMs ? new Date(Date.now() + req.expiresInMs) : undefined,
      });
      return { info: joinTokenToProto(row), token };
    }),

    listJoinTokens: unary("ListJoinTokens", async () => ({ tokens: (await listJoinTokens(db)).map(joinTokenToProto) })),

    revokeAgent: unary("RevokeAgent", async (req) => {
      if (!req.agent || req.agent.length > 253) throw invalid("name the agent to revoke (hodei agents ls)");
      const row = await revokeAgentCredential(db, req.agent);
      if (!row) throw notFound(`agent ${req.agent}`);
      // Whichever controller holds its stream closes it (delivery.ts).
      await deps.bus.publish({ type: "agent:revoked", agentId: row.id });
      return { agentId: row.id, name: row.name };
    }),

    revokeJoinToken: unary("RevokeJoinToken", async (req) => {
      const row = await revokeJoinToken(db, req.id);
      if (!row) throw notFound(`join token ${req.id.slice(0, 40)} (hodei agents token ls lists them)`);
      return joinTokenToProto(row);
    }),
  };
}
