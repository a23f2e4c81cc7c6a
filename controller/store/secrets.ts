/**
 * The SQL of secrets (migrations/012_secrets.ts). Rows hold sealed values
 * only; sealing and opening live in controller/secrets/.
 */
import type { Db } from "./db.js";
import type { SecretRow } from "./schema.js";

export interface SealedSecret {
  name: string;
  /** '' for every project. */
  project: string;
  keyId: string;
  nonce: Buffer;
  sealed: Buffer;
}

/** Creates or replaces a secret; `created` tells which. */
export async function putSecret(db: Db, s: SealedSecret, actor: string): Promise<{ row: SecretRow; created: boolean }> {
  const existing = await db.selectFrom("secrets").select("name").where("project", "=", s.project).where("name", "=", s.name).executeTakeFirst();
  const row = await db
    .insertInto("secrets")
    .values({ name: s.name, project: s.project, key_id: s.keyId, nonce: s.nonce, sealed: s.sealed, created_by: actor, updated_by: actor })
    .onConflict((oc) =>
      oc.columns(["project", "name"]).doUpdateSet({ key_id: s.keyId, nonce: s.nonce, sealed: s.sealed, updated_by: actor, updated_at: new Date() }),
    )
    .returningAll()
    .executeTakeFirstOrThrow();
  return { row, created: !existing };
}

/** Every secret, by project then name; with `project`, only that project's (and not the shared ones). */
export async function listSecrets(db: Db, project?: string): Promise<SecretRow[]> {
  let q = db.selectFrom("secrets").selectAll().orderBy("project").orderBy("name");
  if (project !== undefined) q = q.where("project", "=", project);
  return q.execute();
}

/** The secrets named, as a run of `project` sees them: its project's first, else the shared one. */
export async function secretsFor(db: Db, project: string, names: readonly string[]): Promise<Map<string, SecretRow>> {
  if (names.length === 0) return new Map();
  const rows = await db.selectFrom("secrets").selectAll().where("name", "in", [...names]).where("project", "in", [project, ""]).execute();
  const out = new Map<string, SecretRow>();
  for (const r of rows) if (!out.has(r.name) || r.project !== "") out.set(r.name, r);
  return out;
}

/** Deletes a secret; the row it deleted, if there was one. */
export async function deleteSecret(db: Db, project: string, name: string): Promise<SecretRow | undefined> {
  return db.deleteFrom("secrets").where("project", "=", project).where("name", "=", name).returningAll().executeTakeFirst();
}

/** Replaces the sealed value of a row sealed under `fromKeyId` (a rotation); false when the row changed meanwhile. */
export async function resealSecret(db: Db, s: SealedSecret, fromKeyId: string): Promise<boolean> {
  const r = await db
    .updateTable("secrets")
    .set({ key_id: s.keyId, nonce: s.nonce, sealed: s.sealed })
    .where("project", "=", s.project)
    .where("name", "=", s.name)
    .where("key_id", "=", fromKeyId)
    .executeTakeFirst();
  return Number(r.numUpdatedRows) === 1;
}
