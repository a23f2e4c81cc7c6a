import type { ExecSpec } from "../../proto/gen/hodei/v1/agent.js";
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
  };
}

/** The job's time between SIGTERM and SIGKILL. */
export function killGraceMs(job: unknown): number {
  const grace = (job as Partial<JobDocument> | null)?.spec?.killGrace;
  return grace ? parseDuration(grace) : DEFAULT_KILL_GRACE_MS;
}
