/**
 * Agents must prove who they are (controller/agents/identity.ts). Every
 * controller the tests start seeds the join token HODEI_AGENT_JOIN_TOKEN and
 * every agent presents HODEI_AGENT_TOKEN, the same value (global-setup.ts; the
 * benches get one from seedAgentJoinToken()). Fake agents that speak
 * AgentService themselves send agentMetadata().
 */
import * as grpc from "@grpc/grpc-js";
import { newJoinToken } from "../../controller/agents/identity.js";

/** Sets the seed join token for controllers and agents started from this process, unless set. */
export function seedAgentJoinToken(): void {
  if (process.env.HODEI_AGENT_JOIN_TOKEN) return;
  process.env.HODEI_AGENT_JOIN_TOKEN = newJoinToken();
  process.env.HODEI_AGENT_TOKEN = process.env.HODEI_AGENT_JOIN_TOKEN;
}

/** `authorization: Bearer <token>` (default: the seeded join token) for a fake agent's calls. */
export function agentMetadata(token = process.env.HODEI_AGENT_TOKEN ?? ""): grpc.Metadata {
  const md = new grpc.Metadata();
  if (token) md.set("authorization", `Bearer ${token}`);
  return md;
}
