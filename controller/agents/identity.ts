/**
 * Who is on the other end of an AgentService call (issue 9 item 2;
 * docs/security.md, "Agents"). Every call carries `authorization: Bearer X`:
 *
 * - a session credential (`hodeia_` + 43 base62 characters): the agent has
 *   joined before; the credential names exactly one agent row (by its
 *   SHA-256). This is what an agent presents on every dial after its first.
 * - a join token (`hodeij_...`, made by `hodei agents token create`): the
 *   agent asks to join. Checked here; a use is taken only once its Hello is
 *   accepted (admit()), in one compare-and-set UPDATE.
 * - the controller's seed join token (HODEI_AGENT_JOIN_TOKEN), any string of
 *   32 to 256 printable characters: reusable, never expires (less safe;
 *   for hand-started agents and the embedded daemon's own agent).
 *
 * Anything else is refused with UNAUTHENTICATED, and every refusal and every
 * join is audited. FetchSource and ReadStdin take only a credential, and only
 * for runs assigned to that agent (service.ts checks reports the same way).
 */
import { timingSafeEqual } from "node:crypto";
import { status, type Metadata } from "@grpc/grpc-js";
import type { Db } from "../store/db.js";
import type { AgentJoinTokenRow, AgentRow } from "../store/schema.js";
import { agentByCredential } from "../store/agents.js";
import { joinTokenByHash, takeJoinTokenUse } from "../store/join-tokens.js";
import { bearerToken, generateToken, hashToken } from "../auth/tokens.js";
import { ApiError } from "../api/errors.js";
import type { Audit } from "../auth/audit.js";

export const JOIN_TOKEN_PREFIX = "hodeij_";
export const CREDENTIAL_PREFIX = "hodeia_";
const JOIN_SHAPE = /^hodeij_[0-9A-Za-z]{43}$/;
const CREDENTIAL_SHAPE = /^hodeia_[0-9A-Za-z]{43}$/;
/** What a seed join token may be: long enough not to be guessed, printable, no spaces. */
export const SEED_SHAPE = /^[\x21-\x7e]{32,256}$/;

export const newJoinToken = (): string => generateToken(JOIN_TOKEN_PREFIX);
export const newCredential = (): string => generateToken(CREDENTIAL_PREFIX);

/** What the refusals say: how an agent gets in. */
export const HOW_TO_JOIN =
  "start the agent with a join token (--token-file FILE, or HODEI_AGENT_TOKEN); an operator makes one with `hodei agents token create` (or the controller has a reusable one in HODEI_AGENT_JOIN_TOKEN); see docs/security.md, \"Agents\"";

export type AgentCaller =
  /** A joined agent, by its credential. */
  | { kind: "credential"; agent: AgentRow; actor: string }
  /** A join token that was live when checked (its use is taken by admit()). */
  | { kind: "join"; hash: string; token?: AgentJoinTokenRow; actor: string; fixedLabels: Record<string, string> };

export type Identified = { ok: true; caller: AgentCaller } | { ok: false; error: ApiError; actor: string; reason: string };

export interface IdentityDeps {
  db: Db;
  audit: Audit;
  /** SHA-256 (hex) of the controller's seed join token, if it has one. */
  seedHash?: string;
}

const unauthenticated = (why: string): ApiError => new ApiError("permission", `${why}: ${HOW_TO_JOIN}`, { code: status.UNAUTHENTICATED });

function sameHash(a: string, b: string): boolean {
  return a.length === b.length && timingSafeEqual(Buffer.from(a), Buffer.from(b));
}

/** Why a join token row cannot be used now, or undefined. */
export function joinTokenRefusal(row: AgentJoinTokenRow, now = Date.now()): string | undefined {
  if (row.revoked_at) return "revoked join token";
  if (row.expires_at && row.expires_at.getTime() <= now) return "expired join token";
  if (row.max_uses !== null && row.uses >= row.max_uses) return "used join token";
  return undefined;
}

/** The caller of an AgentService call with this metadata, or why not (not audited: see refuse()). */
export async function identify(deps: IdentityDeps, md: Metadata): Promise<Identified> {
  const token = bearerToken(md) ?? "";
  if (!token) return { ok: false, error: unauthenticated("no agent token or credential was sent"), actor: "anonymous", reason: "no token" };
  const hash = hashToken(token);
  const actor = `${token.slice(0, 13)}…`;
  if (CREDENTIAL_SHAPE.test(token)) {
    const agent = await agentByCredential(deps.db, hash);
    if (!agent) return { ok: false, error: unauthenticated("the agent credential sent is not known to this controller (the agent joined again elsewhere, or the database is a different one)"), actor, reason: "unknown credential" };
    return { ok: true, caller: { kind: "credential", agent, actor: `agent:${agent.name}` } };
  }
  if (deps.seedHash && SEED_SHAPE.test(token) && sameHash(hash, deps.seedHash)) {
    return { ok: true, caller: { kind: "join", hash, actor: "join-token:seed", fixedLabels: {} } };
  }
  if (JOIN_SHAPE.test(token)) {
    const row = await joinTokenByHash(deps.db, hash);
    if (!row) return { ok: false, error: unauthenticated("the join token sent is not known to this controller"), actor, reason: "unknown join token" };
    const why = joinTokenRefusal(row);
    if (why) return { ok: false, error: unauthenticated(`join token ${row.id} cannot be used: ${why.replace(" join token", "")}`), actor: `join-token:${row.id}`, reason: why };
    return { ok: true, caller: { kind: "join", hash, token: row, actor: `join-token:${row.id}`, fixedLabels: row.labels } };
  }
  return { ok: false, error: unauthenticated("the token sent is neither an agent credential nor a join token this controller knows"), actor: "anonymous", reason: "unknown token" };
}

/** Audits a refused identification and returns its error. */
export async function refuse(deps: IdentityDeps, r: Extract<Identified, { ok: false }>, target: string, source: string): Promise<ApiError> {
  await deps.audit({ actor: r.actor, action: r.reason.includes("join token") ? "agent.join" : "agent.auth", target, outcome: "denied", detail: { reason: r.reason }, source });
  return r.error;
}

export interface Admission {
  /** The new session credential: goes to the agent once, in Welcome.session_token. */
  credential: string;
  credentialHash: string;
  fixedLabels: Record<string, string>;
  joinedWith: string;
}

/** Takes a use of the join token (none for the seed) and makes the agent's credential; undefined when the token was used up meanwhile. */
export async function admit(deps: IdentityDeps, caller: Extract<AgentCaller, { kind: "join" }>): Promise<Admission | undefined> {
  let joinedWith = "seed";
  if (caller.token) {
    const row = await takeJoinTokenUse(deps.db, caller.hash);
    if (!row) return undefined;
    joinedWith = row.id;
  }
  const credential = newCredential();
  return { credential, credentialHash: hashToken(credential), fixedLabels: caller.fixedLabels, joinedWith };
}
