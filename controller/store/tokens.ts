/**
 * The SQL of API tokens (migrations/011_auth.ts). Rows hold the token's
 * SHA-256, never the token; controller/auth/tokens.ts makes and checks them.
 */
import { sql } from "kysely";
import type { Db } from "./db.js";
import type { ApiTokenRow, Role } from "./schema.js";

export interface NewToken {
  name: string;
  role: Role;
  projects: string[];
  tokenHash: string;
  prefix: string;
  createdBy: string;
  expiresAt?: Date;
}

/** The new row, or undefined when a token of that name exists. */
export async function insertToken(db: Db, t: NewToken): Promise<ApiTokenRow | undefined> {
  return db
    .insertInto("api_tokens")
    .values({ name: t.name, role: t.role, projects: JSON.stringify(t.projects), token_hash: t.tokenHash, prefix: t.prefix, created_by: t.createdBy, expires_at: t.expiresAt ?? null })
    .onConflict((oc) => oc.doNothing())
    .returningAll()
    .executeTakeFirst();
}

export async function tokenByHash(db: Db, hash: string): Promise<ApiTokenRow | undefined> {
  return db.selectFrom("api_tokens").selectAll().where("token_hash", "=", hash).executeTakeFirst();
}

export async function listTokens(db: Db): Promise<ApiTokenRow[]> {
  return db.selectFrom("api_tokens").selectAll().orderBy("id").execute();
}

/** Revokes by id or name; the row (revoked now or before), or undefined when none matches. */
export async function revokeToken(db: Db, idOrName: string): Promise<ApiTokenRow | undefined> {
  const byId = /^\d{1,18}$/.test(idOrName);
  await db
    .updateTable("api_tokens")
    .set({ revoked_at: sql`now()` })
    .where(byId ? "id" : "name", "=", idOrName)
    .where("revoked_at", "is", null)
    .execute();
  return db.selectFrom("api_tokens").selectAll().where(byId ? "id" : "name", "=", idOrName).executeTakeFirst();
}

/**
 * Records a use, at most once a minute per token (a busy CLI must not write on
 * every call).
 */
export async function touchToken(db: Db, id: string): Promise<void> {
  await db
    .updateTable("api_tokens")
    .set({ last_used_at: sql`now()` })
    .where("id", "=", id)
    .where((eb) => eb.or([eb("last_used_at", "is", null), eb("last_used_at", "<", sql<Date>`now() - interval '1 minute'`)]))
    .execute();
}

/** Whether a usable (not revoked, not expired) admin token exists: the bootstrap's question. */
export async function hasLiveAdmin(db: Db): Promise<boolean> {
  const r = await db
    .selectFrom("api_tokens")
    .select("id")
    .where("role", "=", "admin")
    .where("revoked_at", "is", null)
    .where((eb) => eb.or([eb("expires_at", "is", null), eb("expires_at", ">", sql<Date>`now()`)]))
    .executeTakeFirst();
  return r !== undefined;
}
