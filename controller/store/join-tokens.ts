/**
 * The SQL of agent join tokens (migrations/013_agent_auth.ts). Rows hold the
 * token's SHA-256, never the token; controller/agents/identity.ts makes and
 * checks them.
 */
import { sql } from "kysely";
import type { Db } from "./db.js";
import type { AgentJoinTokenRow } from "./schema.js";

export interface NewJoinToken {
  tokenHash: string;
  prefix: string;
  description: string;
  labels: Record<string, string>;
  /** undefined: unlimited. */
  maxUses?: number;
  createdBy: string;
  expiresAt?: Date;
}

export async function insertJoinToken(db: Db, t: NewJoinToken): Promise<AgentJoinTokenRow> {
  return db
    .insertInto("agent_join_tokens")
    .values({ token_hash: t.tokenHash, prefix: t.prefix, description: t.description, labels: JSON.stringify(t.labels), max_uses: t.maxUses ?? null, created_by: t.createdBy, expires_at: t.expiresAt ?? null })
    .returningAll()
    .executeTakeFirstOrThrow();
}

export async function joinTokenByHash(db: Db, hash: string): Promise<AgentJoinTokenRow | undefined> {
  return db.selectFrom("agent_join_tokens").selectAll().where("token_hash", "=", hash).executeTakeFirst();
}

/**
 * Takes one use of a live token in one compare-and-set UPDATE: the row after
 * the use, or undefined when the token is unknown, revoked, expired or used up
 * (two joins racing for its last use cannot both get it).
 */
export async function takeJoinTokenUse(db: Db, hash: string): Promise<AgentJoinTokenRow | undefined> {
  return db
    .updateTable("agent_join_tokens")
    .set({ uses: sql`uses + 1`, last_used_at: sql`now()` })
    .where("token_hash", "=", hash)
    .where("revoked_at", "is", null)
    .where((eb) => eb.or([eb("expires_at", "is", null), eb("expires_at", ">", sql<Date>`now()`)]))
    .where((eb) => eb.or([eb("max_uses", "is", null), eb("uses", "<", eb.ref("max_uses"))]))
    .returningAll()
    .executeTakeFirst();
}

export async function listJoinTokens(db: Db): Promise<AgentJoinTokenRow[]> {
  return db.selectFrom("agent_join_tokens").selectAll().orderBy("id").execute();
}

/** Revokes by id; the row (revoked now or before), or undefined when none has that id. */
export async function revokeJoinToken(db: Db, id: string): Promise<AgentJoinTokenRow | undefined> {
  if (!/^\d{1,18}$/.test(id)) return undefined;
  await db.updateTable("agent_join_tokens").set({ revoked_at: sql`now()` }).where("id", "=", id).where("revoked_at", "is", null).execute();
  return db.selectFrom("agent_join_tokens").selectAll().where("id", "=", id).executeTakeFirst();
}
