/**
 * The secrets a run gets (spec.secrets), opened at the moment it is assigned
 * and sent to its agent only. A run that cannot have them — a secret not set
 * for its project nor for every project, or a run of a pull request from a
 * fork, which gets no secrets at all — is sent with the reason instead, and
 * its agent fails it before anything of the job runs (docs/security.md).
 */
import type { SecretValue } from "../../proto/gen/hodei/v1/agent.js";
import type { JobDocument } from "../../schemas/load.js";
import type { Db } from "../store/db.js";
import { secretsFor } from "../store/secrets.js";
import type { RunSecrets } from "../runs/exec-spec.js";
import type { Keyring } from "./keyring.js";
import type { MasterKey } from "./seal.js";

export interface SecretRef {
  name: string;
  env: string;
}

/** spec.secrets as references: `NAME` or `{ name, env }`. */
export function secretRefs(job: unknown): SecretRef[] {
  const list = (job as Partial<JobDocument> | null)?.spec?.secrets ?? [];
  return list.map((s) => (typeof s === "string" ? { name: s, env: "" } : { name: s.name, env: s.env ?? "" }));
}

export interface RunForSecrets {
  id: string;
  job: unknown;
  trigger: unknown;
  /** The run's project; runs without one belong to "default". */
  project?: string;
}

/** The run's secrets, or why it cannot have them; undefined when its job names none. */
export async function resolveRunSecrets(db: Db, keyring: Keyring, run: RunForSecrets): Promise<RunSecrets | undefined> {
  const refs = secretRefs(run.job);
  if (refs.length === 0) return undefined;
  const names = refs.map((r) => r.name);
  const twice = names.find((n, i) => names.indexOf(n) !== i);
  if (twice) return { error: `secret ${twice} is named twice in spec.secrets` };
  if ((run.trigger as { fork?: boolean } | null)?.fork) {
    return { error: `runs of pull requests from forks get no secrets, and this job needs ${names.join(", ")}; run it from a branch of the repository itself` };
  }
  const project = run.project ?? "default";
  const rows = await secretsFor(db, project, names);
  const missing = names.filter((n) => !rows.has(n));
  if (missing.length > 0) {
    return { error: `secret${missing.length > 1 ? "s" : ""} ${missing.join(", ")} ${missing.length > 1 ? "are" : "is"} not set for project ${project} nor for every project; set ${missing.length > 1 ? "them" : "it"} with \`hodei secrets set NAME\`` };
  }
  const values: SecretValue[] = [];
  for (const ref of refs) {
    const row = rows.get(ref.name)!;
    let key: MasterKey | undefined;
    try {
      key = keyring.byId(row.key_id);
    } catch (err) {
      return { error: `secret ${ref.name} cannot be opened: ${(err as Error).message}` };
    }
    if (!key) return { error: `secret ${ref.name} is sealed with master key ${row.key_id}, which this controller does not have; set it again or give the controller that key` };
    try {
      values.push({ name: ref.name, value: key.open({ keyId: row.key_id, nonce: row.nonce, sealed: row.sealed }, row.project, row.name), env: ref.env });
    } catch (err) {
      return { error: (err as Error).message };
    }
  }
  return { values };
}
