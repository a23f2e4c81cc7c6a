import type { Checkout, ExecSpec, SecretValue } from "../../proto/gen/hodei/v1/agent.js";

/** A run's secrets, opened for its assignment, or why it cannot have them (controller/secrets/resolve.ts). */
export type RunSecrets = { values: SecretValue[] } | { error: string };
import type { JobDocument } from "../../schemas/load.js";
import { parseDuration } from "../../schemas/durations.js";

/** Default time between SIGTERM and SIGKILL, as in GitHub Actions' runner and Docker. */
export const DEFAULT_KILL_GRACE_MS = 10_000;

/** What an agent needs from a validated job document. */
export function toExecSpec(job: unknown): ExecSpec {
  const spec = (job as JobDocument).spec;
  return {
    script: spec.run ?? "",
    command: spec.command ?? [],
    shell: spec.shell ?? "bash",
    env: spec.env ?? {},
    workdir: spec.workdir ?? "",
    timeoutMs: spec.timeout ? parseDuration(spec.timeout) : 0,
    killGraceMs: killGraceMs(job),
    sourceDigest: "",
    stdin: false,
    checkout: undefined,
    hodeiEnv: {},
    workspaceDir: "",
    secrets: [],
    secretsError: "",
    maskValues: [],
  };
}

/** The time between SIGTERM and SIGKILL of a job. */
export function killGraceMs(job: unknown): number {
  const grace = (job as Partial<JobDocument> | null)?.spec?.killGrace;
  return grace ? parseDuration(grace) : DEFAULT_KILL_GRACE_MS;
}

/** The parts of a run (runs row) the agent's spec is made of. */
export interface RunForSpec {
  id: string;
  job: unknown;
  source_digest: string | null;
  stdin: boolean;
  /** `hodei run --in-place`: the run's workspace is this directory itself. */
  workspace_dir: string | null;
  /** runs.trigger (gitops/pushes.ts RunTrigger); null for a run submitted from a file. */
  trigger: unknown;
  repo_id: string | null;
}

/** The run's repository (repos row); the token is a credential, sent only to the agent that checks out. */
export interface RepoForSpec {
  url: string;
  token: string | null;
}

interface TriggerLike {
  event?: string;
  repo?: string;
  ref?: string;
  commit?: string;
}

/**
 * The whole ExecSpec of a run: the job's, its source bundle and stdin, and for
 * a run started from a repo the checkout of its commit (unless the job says
 * `checkout: false`) and the HODEI_* variables that say where it came from.
 * A run whose repo was deleted meanwhile still gets a checkout, with no URL:
 * the agent fails it as `checkout` rather than run the job in an empty directory.
 */
export function runExecSpec(run: RunForSpec, repo: RepoForSpec | undefined, secrets?: RunSecrets): ExecSpec {
  const spec: ExecSpec = { ...toExecSpec(run.job), sourceDigest: run.source_digest ?? "", stdin: run.stdin, workspaceDir: run.workspace_dir ?? "" };
  if (secrets && "error" in secrets) spec.secretsError = secrets.error;
  else if (secrets) {
    spec.secrets = secrets.values;
    // Masked by the agent before a byte of output leaves it, and again by the controller before storing.
    spec.maskValues = secrets.values.map((v) => Buffer.from(v.value).toString("utf8"));
  }
  const t = (run.trigger ?? undefined) as TriggerLike | undefined;
  const env: Record<string, string> = { HODEI_RUN_ID: String(run.id), HODEI_EVENT: t?.event ?? "manual" };
  if (t?.repo) env.HODEI_REPO = t.repo;
  if (t?.ref) env.HODEI_REF = t.ref;
  if (t?.commit) env.HODEI_COMMIT = t.commit;
  spec.hodeiEnv = env;
  const wantsCheckout = (run.job as Partial<JobDocument>).spec?.checkout !== false;
  if (t?.commit && (run.repo_id !== null || t.repo) && wantsCheckout) {
    const checkout: Checkout = { url: repo?.url ?? "", commit: t.commit, ref: t.ref ?? "", token: repo?.token ?? "" };
    spec.checkout = checkout;
  }
  return spec;
}
