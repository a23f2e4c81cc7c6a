// Source bundles: the working tree a run starts in, stored by SHA-256 (see
// migrations/004_source_bundles.ts). Written before the run that names them.
import { createHash } from "node:crypto";
import type { Kysely } from "kysely";
import type { Database } from "./schema.js";

export function bundleDigest(data: Uint8Array): string {
  return createHash("sha256").update(data).digest("hex");
}

/** Stores `data` under its digest (once: the same bytes resubmitted cost nothing) and returns the digest. */
export async function putSourceBundle(db: Kysely<Database>, data: Uint8Array): Promise<string> {
  const digest = bundleDigest(data);
  await db.insertInto("source_bundles").values({ digest, data: Buffer.from(data) }).onConflict((oc) => oc.column("digest").doNothing()).execute();
  return digest;
}

/** The bundle's bytes, or undefined when no bundle has this digest. */
export async function getSourceBundle(db: Kysely<Database>, digest: string): Promise<Buffer | undefined> {
  const row = await db.selectFrom("source_bundles").select("data").where("digest", "=", digest).executeTakeFirst();
  return row?.data;
}
