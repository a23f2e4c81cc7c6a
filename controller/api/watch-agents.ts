/**
 * WatchAgents: every agent, then their changes (proto/hodei/v1/control.proto,
 * "Watching"). Agents are few, so each wake-up re-reads them all and sends
 * the ones that differ from what this stream last sent. Wake-ups: an agent
 * connects, leaves or its work changes here (the registry), a run event or a
 * drain on the bus, and a timer for heartbeats (kept in the memory of
 * whichever controller holds the agent's stream, and in its row).
 */
import type { ServerWritableStream } from "@grpc/grpc-js";
import type { Agent, AgentWatchEvent, WatchAgentsRequest } from "../../proto/gen/hodei/v1/control.js";
import type { Store } from "../store/db.js";
import type { AgentRegistry } from "../agents/registry.js";
import { listAgents } from "../store/agents.js";
import { agentToProto } from "./convert.js";
import { invalid } from "./errors.js";
import { streamWriter } from "./stream-writer.js";

export const DEFAULT_AGENT_REFRESH_MS = 2000;
const MIN_AGENT_REFRESH_MS = 200;

function kindOf(a: Agent, before: Agent | undefined): string | undefined {
  if (!before) return a.state === "connected" ? "connected" : "changed";
  if (a.state !== before.state) return a.state === "disconnected" ? "lost" : a.state === "draining" ? "draining" : a.state === "connected" ? "connected" : "changed";
  const heartbeat = a.cpuPercent !== before.cpuPercent || a.memoryUsedBytes !== before.memoryUsedBytes || a.memoryTotalBytes !== before.memoryTotalBytes || a.lastSeenMs !== before.lastSeenMs;
  const other = JSON.stringify({ ...a, cpuPercent: 0, memoryUsedBytes: 0, memoryTotalBytes: 0, lastSeenMs: 0 }) !== JSON.stringify({ ...before, cpuPercent: 0, memoryUsedBytes: 0, memoryTotalBytes: 0, lastSeenMs: 0 });
  if (other) return "changed";
  return heartbeat ? "heartbeat" : undefined;
}

export async function watchAgents(store: Store, registry: AgentRegistry, call: ServerWritableStream<WatchAgentsRequest, AgentWatchEvent>): Promise<void> {
  const req = call.request;
  if (req.agentRefreshMs !== 0 && (req.agentRefreshMs < MIN_AGENT_REFRESH_MS || req.agentRefreshMs > 3_600_000)) {
    throw invalid(`agent_refresh_ms must be 0 (the default, ${DEFAULT_AGENT_REFRESH_MS}) or ${MIN_AGENT_REFRESH_MS} to 3600000, got ${req.agentRefreshMs}`);
  }
  const out = streamWriter(call);
  const stopBus = store.bus.subscribe((ev) => {
    if (ev.type.startsWith("run:") || ev.type === "agent:drain" || ev.type === "bus:resync") out.poke();
  });
  const stopRegistry = registry.watch(() => out.poke());
  const timer = setInterval(() => out.poke(), req.agentRefreshMs || DEFAULT_AGENT_REFRESH_MS);
  const stop = (): void => {
    stopBus();
    stopRegistry();
    clearInterval(timer);
  };
  out.onLeave(stop);
  const sent = new Map<string, Agent>();
  try {
    for (const row of await listAgents(store.db)) {
      const a = agentToProto(row, registry.get(row.id));
      sent.set(a.id, a);
      await out.write({ kind: "snapshot", agent: a });
    }
    await out.write({ kind: "snapshot_end", agent: undefined });
    while (!out.gone) {
      await out.wait();
      if (out.gone) break;
      for (const row of await listAgents(store.db)) {
        const a = agentToProto(row, registry.get(row.id));
        const kind = kindOf(a, sent.get(a.id));
        if (!kind) continue;
        sent.set(a.id, a);
        await out.write({ kind, agent: a });
      }
    }
  } finally {
    stop();
  }
}
