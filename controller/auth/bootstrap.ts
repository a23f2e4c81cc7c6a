/**
 * The controller's first admin token (docs/security.md, "Bootstrap"):
 *
 * - HODEI_ADMIN_TOKEN (or StartOptions.adminToken), or the contents of
 *   --admin-token-file when that file exists: that token is an admin token
 *   (added under the name "admin", or "admin-<prefix>" when "admin" is taken,
 *   unless its hash is known already: restarts and several controllers on one
 *   database seed it once).
 * - Neither, and no usable admin token in the database: a new one is made and
 *   written, mode 0600, to --admin-token-file if given, else to
 *   DATA_DIR/admin.token (PGlite) or ./hodei-admin.token (PostgreSQL). The log
 *   says where, never the token.
 */
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { resolve } from "node:path";
import type { Logger } from "pino";
import type { Db } from "../store/db.js";
import { hasLiveAdmin, insertToken, tokenByHash } from "../store/tokens.js";
import { displayPrefix, generateToken, hashToken } from "./tokens.js";

/** What a seeded token must look like: hodei_ and at least 32 letters or digits (e.g. hodei_$(openssl rand -hex 32)). */
export const SEED_SHAPE = /^hodei_[0-9A-Za-z]{32,200}$/;

export interface BootstrapOptions {
  /** HODEI_ADMIN_TOKEN. */
  adminToken?: string;
  /** --admin-token-file: read when it exists, else where a new token is written. */
  adminTokenFile?: string;
  /** Where a new token goes when no file is named. */
  defaultFile: string;
  /** Make a new admin token whenever the file is missing, even if other admin tokens exist (the embedded daemon). */
  ensureFile?: boolean;
}

export class BootstrapError extends Error {
  override name = "BootstrapError";
}

async function seed(db: Db, token: string, log: Logger, from: string): Promise<void> {
  if (!SEED_SHAPE.test(token)) throw new BootstrapError(`${from} must be "hodei_" followed by at least 32 letters or digits (for example hodei_$(openssl rand -hex 32))`);
  const hash = hashToken(token);
  const known = await tokenByHash(db, hash);
  if (known) {
    if (known.revoked_at) log.warn({ token: known.name, from }, "the seeded admin token was revoked; it is not restored");
    return;
  }
  const row = (await insertToken(db, { name: "admin", role: "admin", projects: [], tokenHash: hash, prefix: displayPrefix(token), createdBy: "bootstrap" })) ?? (await insertToken(db, { name: `admin-${token.slice(6, 12)}`, role: "admin", projects: [], tokenHash: hash, prefix: displayPrefix(token), createdBy: "bootstrap" }));
  // Another controller may have seeded the same token a moment ago.
  if (!row && !(await tokenByHash(db, hash))) throw new BootstrapError(`cannot add the admin token from ${from}: tokens named admin and admin-${token.slice(6, 12)} exist; revoke one`);
  log.info({ token: row?.name ?? "admin", from }, "admin token seeded");
}

export async function bootstrapAdmin(db: Db, o: BootstrapOptions, log: Logger): Promise<void> {
  if (o.adminToken) return seed(db, o.adminToken.trim(), log, "HODEI_ADMIN_TOKEN");
  if (o.adminTokenFile && existsSync(o.adminTokenFile)) return seed(db, readFileSync(o.adminTokenFile, "utf8").trim(), log, o.adminTokenFile);
  if (!o.ensureFile && (await hasLiveAdmin(db))) return;
  const file = resolve(o.adminTokenFile ?? o.defaultFile);
  const token = generateToken();
  try {
    // wx: never overwrite a file someone else put there.
    writeFileSync(file, token + "\n", { mode: 0o600, flag: "wx" });
  } catch (err) {
    throw new BootstrapError(`no admin token exists and the new one cannot be written to ${file} (${(err as Error).message}); set HODEI_ADMIN_TOKEN or --admin-token-file`, { cause: err });
  }
  await seed(db, token, log, file);
  log.warn({ file }, "no admin token existed: created one and wrote it to this file (mode 0600); use it with HODEI_TOKEN_FILE, make other tokens with hodei tokens create, then move or delete the file");
}
