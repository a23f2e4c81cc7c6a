/** Agent rows: they outlive connections so `hodei agents ls` shows who left. */
import type { Db } from "./db.js";
import type { AgentRow, AgentState, RunRow } from "./schema.js";
import { ACTIVE } from "./runs.js";

export interface AgentHello {
  id: string;
  name: string;
  labels: Record<string, string>;
  slots: number;
  version: string;
  killMethod: string;
}

/**
 * Records a connecting agent. The name is the identity an operator sees, so it
 * is unique, and an agent that comes back under the same name keeps its id
 * (and so its runs); `a.id` is used only for a name seen for the first time.
 */
export async function upsertAgent(db: Db, a: AgentHello): Promise<AgentRow> {
  const now = new Date();
  return db
    .insertInto("agents")
    .values({ id: a.id, name: a.name, state: "connected", labels: JSON.stringify(a.labels), slots: a.slots, version: a.version, kill_method: a.killMethod, connected_at: now, last_seen_at: now })
    .onConflict((oc) =>
      oc.column("name").doUpdateSet({ state: "connected", labels: JSON.stringify(a.labels), slots: a.slots, version: a.version, kill_method: a.killMethod, connected_at: now, last_seen_at: now }),
    )
    .returningAll()
    .executeTakeFirstOrThrow();
}

export async function recordHeartbeat(db: Db, id: string, heartbeat: Record<string, number>): Promise<void> {
  await db.updateTable("agents").set({ heartbeat: JSON.stringify(heartbeat), last_seen_at: new Date() }).where("id", "=", id).execute();
}

export async function setAgentState(db: Db, id: string, state: AgentState): Promise<void> {
  await db.updateTable("agents").set({ state, last_seen_at: new Date() }).where("id", "=", id).execute();
}

export async function getAgentByName(db: Db, name: string): Promise<AgentRow | undefined> {
  return db.selectFrom("agents").selectAll().where("name", "=", name).executeTakeFirst();
}

export async function listAgents(db: Db): Promise<AgentRow[]> {
  return db.selectFrom("agents").selectAll().orderBy("name").execute();
}

/** Assigned or running runs of these agents whose cancel was requested (catch-up after a bus gap). */
export async function cancelRequestedOf(db: Db, agentIds: string[]): Promise<RunRow[]> {
  if (agentIds.length === 0) return [];
  return db.selectFrom("runs").selectAll().where("agent_id", "in", agentIds).where("cancel_requested", "=", true).where("state", "in", ACTIVE).execute();
}

/** Which of these agents are recorded as draining. */
export async function drainingAmong(db: Db, agentIds: string[]): Promise<string[]> {
  if (agentIds.length === 0) return [];
  const rows = await db.selectFrom("agents").select("id").where("id", "in", agentIds).where("state", "=", "draining").execute();
  return rows.map((r) => r.id);
}
