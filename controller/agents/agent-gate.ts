/**
 * The gate in front of AgentService's calls other than Connect (FetchSource,
 * ReadStdin): only a joined agent, by its session credential (identity.ts),
 * gets through, and the handler learns which agent it is so it serves only
 * that agent's runs. A join token is not enough here: it admits an agent on
 * Connect, where it is exchanged for a credential.
 */
import { status, type ServerWritableStream } from "@grpc/grpc-js";
import type { Logger } from "pino";
import type { AgentRow } from "../store/schema.js";
import { ApiError, toServiceError } from "../api/errors.js";
import { identify, refuse, type IdentityDeps } from "./identity.js";

export function agentOnly<Req, Res>(
  deps: IdentityDeps & { log: Logger },
  method: string,
  handler: (call: ServerWritableStream<Req, Res>, agent: AgentRow) => void,
): (call: ServerWritableStream<Req, Res>) => void {
  return (call) => {
    const fail = (err: unknown): void => void call.emit("error", toServiceError(err, deps.log, method));
    identify(deps, call.metadata).then(async (r) => {
      if (!r.ok) return fail(await refuse(deps, r, method, call.getPeer()));
      if (r.caller.kind !== "credential") {
        await deps.audit({ actor: r.caller.actor, action: "agent.auth", target: method, outcome: "denied", detail: { reason: "join token on a call that needs a credential" }, source: call.getPeer() });
        return fail(new ApiError("permission", `${method} needs the agent's session credential (from its Welcome), not a join token`, { code: status.UNAUTHENTICATED }));
      }
      handler(call, r.caller.agent);
    }, fail);
  };
}
