/**
 * The one gate in front of ControlService, GitOpsService and AuthService
 * (server.ts wraps each service's handlers with `guard`): it reads the call's
 * `authorization: Bearer <token>` metadata, finds the token by its hash,
 * refuses a missing, unknown, revoked or expired one (UNAUTHENTICATED), checks
 * the token's role against the call's rule (permissions.ts; PERMISSION_DENIED
 * naming the role needed), and hands the handler the caller (principal.ts).
 * It audits every refusal, and every call that changes something (permissions
 * `action`), allowed or failed, once it has answered. Allowed reads are not
 * audited: `hodei logs -f` and watchers call them constantly, and the entries
 * would drown the ones that matter; their refusals are.
 *
 * AgentService is not behind this gate: agents prove who they are with join
 * tokens and session credentials (agents/identity.ts, agents/agent-gate.ts).
 */
import { status, type Metadata, type ServiceDefinition, type ServiceError, type sendUnaryData } from "@grpc/grpc-js";
import type { Logger } from "pino";
import type { Db } from "../store/db.js";
import { tokenByHash, touchToken } from "../store/tokens.js";
import { ApiError, toServiceError } from "../api/errors.js";
import { CALLS, atLeast, type CallRule } from "./permissions.js";
import { setPrincipal, type Principal } from "./principal.js";
import { TOKEN_SHAPE, bearerToken, displayPrefix, hashToken } from "./tokens.js";
import type { Audit } from "./audit.js";

export interface GuardDeps {
  db: Db;
  audit: Audit;
  log: Logger;
}

/** What UNAUTHENTICATED says: how to get a token. */
export const HOW_TO_GET_A_TOKEN =
  "set HODEI_TOKEN (or HODEI_TOKEN_FILE, a file holding it) to an API token; an admin makes one with `hodei tokens create --name NAME --role ROLE` (the controller's first admin token is HODEI_ADMIN_TOKEN, --admin-token-file, or the file its log names at first start)";

const unauthenticated = (why: string): ApiError => new ApiError("permission", `${why}: ${HOW_TO_GET_A_TOKEN}`, { code: status.UNAUTHENTICATED });

type Checked = { ok: true; principal: Principal } | { ok: false; error: ApiError; actor: string; reason: string };

/** The caller of a call with this metadata, or why not. */
export async function authenticate(db: Db, md: Metadata): Promise<Checked> {
  const token = bearerToken(md);
  if (token === undefined) return { ok: false, error: unauthenticated("no API token was sent"), actor: "anonymous", reason: "no token" };
  if (!TOKEN_SHAPE.test(token)) return { ok: false, error: unauthenticated("the API token sent is not a Hodei token (hodei_...)"), actor: "anonymous", reason: "malformed token" };
  const actor = `${displayPrefix(token)}…`;
  const row = await tokenByHash(db, hashToken(token));
  if (!row) return { ok: false, error: unauthenticated("the API token sent is not known to this controller"), actor, reason: "unknown token" };
  if (row.revoked_at) return { ok: false, error: unauthenticated(`API token ${row.name} was revoked`), actor: row.name, reason: "revoked token" };
  if (row.expires_at && row.expires_at.getTime() <= Date.now()) return { ok: false, error: unauthenticated(`API token ${row.name} expired at ${row.expires_at.toISOString()}`), actor: row.name, reason: "expired token" };
  // At most one write a minute per token, and none on the call's path.
  if (!row.last_used_at || Date.now() - row.last_used_at.getTime() > 60_000) void touchToken(db, row.id).catch(() => {});
  return { ok: true, principal: { tokenId: row.id, name: row.name, role: row.role, projects: row.projects } };
}

/** Why the principal may not make this call, or undefined. */
export function refusal(p: Principal, method: string, rule: CallRule | undefined): ApiError | undefined {
  if (!rule) return new ApiError("permission", `${method} is not open to any token`);
  if (!atLeast(p.role, rule.role)) return new ApiError("permission", `${method} needs the ${rule.role} role; token ${p.name} has ${p.role}`);
  if (rule.allProjects && p.projects.length) return new ApiError("permission", `${method} needs a ${rule.role} token for every project; token ${p.name} is limited to ${p.projects.join(", ")}`);
  return undefined;
}

/** The audit target and detail of a changing call, from its request and answer (never the token it returns). */
function described(action: string, req: Record<string, unknown>, res: Record<string, unknown> | undefined): { target: string; detail: Record<string, unknown> } {
  const s = (v: unknown): string => (typeof v === "string" ? v.slice(0, 200) : "");
  switch (action) {
    case "run.submit":
      return { target: res ? `run ${s(res.id)}` : s(req.repo) ? `job ${s(req.repo)}/${s(req.job)}` : "run", detail: { project: s(res?.project) || s(req.project), job: s(res?.jobName) || s(req.job) } };
    case "run.cancel":
      return { target: `run ${s(req.runId)}`, detail: {} };
    case "run.rerun":
      return { target: `run ${s(req.runId)}`, detail: res ? { newRun: s(res.id) } : {} };
    case "agent.drain":
      return { target: `agent ${s(req.agent)}`, detail: {} };
    case "token.create": {
      const info = res?.info as Record<string, unknown> | undefined;
      return { target: `token ${s(req.name)}`, detail: { role: s(req.role), projects: req.projects, id: s(info?.id) } };
    }
    case "token.revoke":
      return { target: `token ${s(req.token)}`, detail: {} };
    case "agent.token.create": {
      const info = res?.info as Record<string, unknown> | undefined;
      return { target: info ? `join token ${s(info.id)}` : "join token", detail: { labels: req.labels, maxUses: req.maxUses, expiresInMs: req.expiresInMs } };
    }
    case "agent.token.revoke":
      return { target: `join token ${s(req.id)}`, detail: {} };
    case "agent.revoke":
      return { target: `agent ${s(req.agent)}`, detail: {} };
    default:
      return { target: s(res?.name) || s(req.name) ? `repo ${s(res?.name) || s(req.name)}` : "", detail: s(req.url) ? { url: s(res?.url) || "(redacted)" } : {} };
  }
}

type AnyHandler = (call: never, cb?: never) => void;
interface GuardedCall {
  metadata: Metadata;
  request?: unknown;
  getPeer(): string;
  emit(event: "error", err: Partial<ServiceError>): boolean;
}

/** The service's handlers behind the gate. */
export function guard<T extends object>(def: ServiceDefinition, impl: T, deps: GuardDeps): T {
  const out: Record<string, AnyHandler> = {};
  for (const [key, m] of Object.entries(def)) {
    const [, svc, rpc] = m.path.split("/");
    const method = `${svc!.split(".").pop()}.${rpc}`;
    const rule = CALLS[method];
    const handler = (impl as Record<string, (...a: unknown[]) => void>)[key];
    if (!handler) continue;
    const unary = !m.requestStream && !m.responseStream;
    out[key] = ((call: GuardedCall, cb?: sendUnaryData<unknown>) => {
      const source = call.getPeer();
      const fail = (err: unknown): void => {
        const e = toServiceError(err, deps.log, method);
        if (unary) cb!(e);
        else call.emit("error", e);
      };
      authenticate(deps.db, call.metadata).then(
        async (c) => {
          if (!c.ok) {
            await deps.audit({ actor: c.actor, action: "auth", target: method, outcome: "denied", detail: { reason: c.reason }, source });
            return fail(c.error);
          }
          const p = c.principal;
          const no = refusal(p, method, rule);
          if (no) {
            await deps.audit({ actor: p.name, action: rule?.action ?? "call", target: method, outcome: "denied", detail: { role: p.role, need: rule?.role ?? "none" }, source });
            return fail(no);
          }
          setPrincipal(call, p);
          if (!unary || !rule?.action) return handler(call, cb);
          const action = rule.action;
          const req = (call.request ?? {}) as Record<string, unknown>;
          handler(call, ((err: Partial<ServiceError> | null, res?: unknown) => {
            const d = described(action, req, (res ?? undefined) as Record<string, unknown> | undefined);
            const denied = err?.code === status.PERMISSION_DENIED;
            // On record before the caller hears the answer (audit() never throws).
            void deps
              .audit({ actor: p.name, action, target: d.target, outcome: err ? (denied ? "denied" : "failed") : "allowed", detail: err ? { ...d.detail, error: String(err.details ?? err.message ?? "").slice(0, 300) } : d.detail, source })
              .then(() => cb!(err, res));
          }) as sendUnaryData<unknown>);
        },
        (err: unknown) => fail(err),
      );
    }) as AnyHandler;
  }
  return out as T;
}
