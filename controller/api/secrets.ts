/**
 * SecretsService (proto/hodei/v1/secrets.proto): values go in sealed and never
 * come out. No answer, error message or log line carries a value; a log line
 * names the secret, its project and who acted.
 */
import { status } from "@grpc/grpc-js";
import type { Logger } from "pino";
import type { Secret, SecretsServiceServer } from "../../proto/gen/hodei/v1/secrets.js";
import type { Store } from "../store/db.js";
import type { SecretRow } from "../store/schema.js";
import { deleteSecret, listSecrets, putSecret, resealSecret } from "../store/secrets.js";
import { NoMasterKeyError, type Keyring } from "../secrets/keyring.js";
import { ApiError, invalid, notFound } from "./errors.js";
import { principalOf } from "../auth/principal.js";
import { unaryHandler } from "./unary.js";

export interface SecretsDeps {
  store: Store;
  keyring: Keyring;
  log: Logger;
}

export const SECRET_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,127}$/;
export const PROJECT_NAME = /^[a-z0-9][a-z0-9._-]{0,62}$/;
/** GitHub Actions allows 48 KB; a certificate chain or a kubeconfig fits in this. */
export const MAX_SECRET_BYTES = 64 * 1024;

export function checkSecretName(name: string): void {
  if (!SECRET_NAME.test(name)) throw invalid(`secret name ${JSON.stringify(name.slice(0, 140))} is not valid: use letters, digits and _, not starting with a digit, at most 128 characters (e.g. NPM_TOKEN)`);
}

export function checkProject(project: string): void {
  if (project !== "" && !PROJECT_NAME.test(project)) throw invalid(`project ${JSON.stringify(project.slice(0, 80))} is not valid: lower-case letters, digits, '.', '_' and '-', starting with a letter or digit, at most 63 characters`);
}

const toProto = (r: SecretRow, replaced = false): Secret => ({
  name: r.name,
  project: r.project,
  createdBy: r.created_by,
  createdAtMs: r.created_at.getTime(),
  updatedBy: r.updated_by,
  updatedAtMs: r.updated_at.getTime(),
  keyId: r.key_id,
  replaced,
});

/** A missing master key is the operator's to fix, not an internal error. */
function keyed<T>(fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    if (err instanceof NoMasterKeyError) throw new ApiError("conflict", err.message, { code: status.FAILED_PRECONDITION });
    throw err;
  }
}

export function secretsService(deps: SecretsDeps): SecretsServiceServer {
  const { store, keyring, log } = deps;
  const db = store.db;
  const unary = unaryHandler(log);
  // The token's name (controller/auth/guard.ts put the caller on the call).
  const actorOf = (call: object): string => principalOf(call)?.name ?? "unknown";

  return {
    setSecret: unary("SetSecret", async (req, call) => {
      checkSecretName(req.name);
      checkProject(req.project);
      const value = Buffer.from(req.value);
      if (value.length === 0) throw invalid(`secret ${req.name} has an empty value`);
      if (value.length > MAX_SECRET_BYTES) throw invalid(`secret ${req.name} is ${value.length} bytes; the limit is ${MAX_SECRET_BYTES} (64 KiB)`);
      const key = keyed(() => keyring.current());
      const sealed = key.seal(value, req.project, req.name);
      value.fill(0);
      const actor = actorOf(call);
      const { row, created } = await putSecret(db, { name: req.name, project: req.project, ...sealed }, actor);
      log.info({ secret: req.name, project: req.project || "(all)", actor, keyId: key.id }, created ? "secret created" : "secret replaced");
      return toProto(row, !created);
    }),

    listSecrets: unary("ListSecrets", async (req) => {
      if (req.project) checkProject(req.project);
      return { secrets: (await listSecrets(db, req.project || undefined)).map((r) => toProto(r)) };
    }),

    deleteSecret: unary("DeleteSecret", async (req, call) => {
      checkSecretName(req.name);
      checkProject(req.project);
      const row = await deleteSecret(db, req.project, req.name);
      if (!row) throw notFound(`secret ${req.name}${req.project ? ` of project ${req.project}` : ""}`);
      log.info({ secret: req.name, project: req.project || "(all)", actor: actorOf(call) }, "secret deleted");
      return toProto(row);
    }),

    rotateKey: unary("RotateKey", async (_req, call) => {
      const newKey = keyed(() => (keyring.managesFile ? keyring.addNewKey() : undefined));
      const current = newKey ?? keyed(() => keyring.current());
      let resealed = 0;
      for (const row of await listSecrets(db)) {
        if (row.key_id === current.id) continue;
        const old = keyring.byId(row.key_id);
        if (!old) throw new ApiError("conflict", `secret ${row.name}${row.project ? ` of project ${row.project}` : ""} is sealed with key ${row.key_id}, which this controller no longer has; set it again (hodei secrets set)`, { code: status.FAILED_PRECONDITION });
        const value = old.open({ keyId: row.key_id, nonce: row.nonce, sealed: row.sealed }, row.project, row.name);
        const sealed = current.seal(value, row.project, row.name);
        value.fill(0);
        if (await resealSecret(db, { name: row.name, project: row.project, ...sealed }, row.key_id)) resealed++;
      }
      // Every row is under the current key now (a row set meanwhile was sealed with it too).
      keyring.forgetOld();
      log.info({ keyId: current.id, resealed, newKey: Boolean(newKey), actor: actorOf(call) }, "secrets resealed under the current master key");
      return { keyId: current.id, resealed, newKey: Boolean(newKey) };
    }),
  };
}
