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
  /**
   * Set when the agent has just joined with a join token: the SHA-256 of its
   * new session credential (replacing any earlier one, which stops working),
   * the labels its token fixed, and which token admitted it.
   */
  joined?: { credentialHash: string; fixedLabels: Record<string, string>; joinedWith: string };
  /**
   * Only take over an existing row of that name if its agent is not live: not
   * connected or draining, or silent since this time (a join must not steal
   * the name of an agent connected to this or another controller). Checked in
   * the same statement as the write.
   */
  unlessLiveSince?: Date;
}

/**
 * Records a connecting agent. The name is the identity an operator sees, so it
 * is unique, and an agent that comes back under the same name keeps its id
 * (and so its runs); `a.id` is used only for a name seen for the first time.
 */
export async function upsertAgent(db: Db, a: AgentHello): Promise<AgentRow> {
  const row = await upsertAgentIfFree(db, a);
  if (!row) throw new Error(`agent ${a.name} is live`);
  return row;
}

/** As upsertAgent; undefined when `unlessLiveSince` is set and a live agent holds the name. */
export async function upsertAgentIfFree(db: Db, a: AgentHello): Promise<AgentRow | undefined> {
  const now = new Date();
  const common = { state: "connected" as const, labels: JSON.stringify(a.labels), slots: a.slots, version: a.version, kill_method: a.killMethod, connected_at: now, last_seen_at: now };
  const joined = a.joined ? { credential_hash: a.joined.credentialHash, fixed_labels: JSON.stringify(a.joined.fixedLabels), joined_with: a.joined.joinedWith } : {};
  const since = a.unlessLiveSince;
  return db
    .insertInto("agents")
    .values({ id: a.id, name: a.name, ...common, ...joined })
    .onConflict((oc) => {
      const update = oc.column("name").doUpdateSet({ ...common, ...joined });
      return since ? update.where((eb) => eb.or([eb("agents.state", "not in", ["connected", "draining"]), eb("agents.last_seen_at", "<", since)])) : update;
    })
    .returningAll()
    .executeTakeFirst();
}

export async function recordHeartbeat(db: Db, id: string, heartbeat: Record<string, number>): Promise<void> {
  await db.updateTable("agents").set({ heartbeat: JSON.stringify(heartbeat), last_seen_at: new Date() }).where("id", "=", id).execute();
}

export async function setAgentState(db: Db, id: string, state: AgentState): Promise<void> {
  await db.updateTable("agents").set({ state, last_seen_at: new Date() }).where("id", "=", id).execute();
}

/** The agent holding this session credential (by its SHA-256). */
export async function agentByCredential(db: Db, credentialHash: string): Promise<AgentRow | undefined> {
  return db.selectFrom("agents").selectAll().where("credential_hash", "=", credentialHash).executeTakeFirst();
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

/** Which of these agents have no credential any more (revoked). */
export async function revokedAmong(db: Db, agentIds: string[]): Promise<string[]> {
  if (agentIds.length === 0) return [];
  const rows = await db.selectFrom("agents").select("id").where("id", "in", agentIds).where("credential_hash", "is", null).execute();
  return rows.map((r) => r.id);
}

/**
 * Revokes an agent's credential (by name): it can no longer connect, fetch or
 * report, until it joins again with a join token. The row, or undefined.
 */
export async function revokeAgentCredential(db: Db, name: string): Promise<AgentRow | undefined> {
  return db.updateTable("agents").set({ credential_hash: null, state: "disconnected" }).where("name", "=", name).returningAll().executeTakeFirst();
}

/** Which of these agents are recorded as draining. */
export async function drainingAmong(db: Db, agentIds: string[]): Promise<string[]> {
  if (agentIds.length === 0) return [];
  const rows = await db.selectFrom("agents").select("id").where("id", "in", agentIds).where("state", "=", "draining").execute();
  return rows.map((r) => r.id);
}
