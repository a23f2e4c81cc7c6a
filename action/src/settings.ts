/**
 * The Action's inputs, read once into a typed Settings object. Every problem
 * is collected, not just the first, so one failed step lists them all
 * (action/README.md documents each input). Reading an input goes through
 * `@actions/core`'s getInput (INPUT_<NAME>, as the runner sets them); the
 * workflow's own facts (commit, run id, attempt, step) come from its GITHUB_*
 * variables.
 */
import { existsSync, statSync } from "node:fs";
import { isAbsolute, relative, resolve } from "node:path";
import { parseDuration } from "../../schemas/durations.js";

export type Mode = "remote" | "embedded";

/** What to run: a job by name from the workspace's .hodei/, a job in a spec file, or a registered repository's job. */
export type Target =
  | { kind: "name"; job: string }
  | { kind: "file"; spec: string; job?: string }
  | { kind: "repo"; repo: string; job: string; ref: string };

/** Facts about the workflow step the Action runs in. */
export interface Workflow {
  workspace: string;
  sha: string;
  repository: string;
  runId: string;
  runAttempt: string;
  job: string;
  /** GITHUB_ACTION: the step's id (or the runner's name for an unnamed step), unique within the job. */
  step: string;
  /** A link to the workflow run, when the runner says where it is. */
  runUrl?: string;
}

export interface Settings {
  mode: Mode;
  /** The controller's address (remote mode). */
  controller?: string;
  token?: string;
  /** A PEM CA file (a path; inline PEM is written to a temporary file by the caller). */
  ca?: { file: string } | { pem: string };
  target: Target;
  env: Record<string, string>;
  wait: boolean;
  followLogs: boolean;
  /** How long to wait for the run before cancelling it (undefined: no limit of the Action's own). */
  timeoutMs?: number;
  timeout?: string;
  cancelOnAbort: boolean;
  workflow: Workflow;
}

export type SettingsResult = { ok: true; settings: Settings } | { ok: false; errors: string[] };

/** Reads one input as the runner passes it (trimmed; "" when not given). */
export type InputReader = (name: string) => string;

/** Job names are DNS labels (schemas/job.schema.json: metadata.name). */
const JOB_NAME = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const TRUE = ["true", "True", "TRUE"];
const FALSE = ["false", "False", "FALSE"];

/** Every input the Action declares (action.yml); a test keeps the two lists the same. */
export const INPUTS = ["controller", "token", "job", "spec", "repo", "ref", "env", "wait", "follow-logs", "timeout", "cancel-on-abort", "mode", "ca"] as const;

export function readSettings(input: InputReader, env: NodeJS.ProcessEnv = process.env): SettingsResult {
  const errors: string[] = [];
  const get = (name: (typeof INPUTS)[number]): string => input(name).trim();

  const bool = (name: (typeof INPUTS)[number], dflt: boolean): boolean => {
    const raw = get(name);
    if (raw === "") return dflt;
    if (TRUE.includes(raw)) return true;
    if (FALSE.includes(raw)) return false;
    errors.push(`input "${name}": ${JSON.stringify(raw)} is not a boolean; use true or false`);
    return dflt;
  };

  const workspace = resolve(env.GITHUB_WORKSPACE || process.cwd());
  const workflow: Workflow = {
    workspace,
    sha: env.GITHUB_SHA ?? "",
    repository: env.GITHUB_REPOSITORY ?? "",
    runId: env.GITHUB_RUN_ID ?? "",
    runAttempt: env.GITHUB_RUN_ATTEMPT || "1",
    job: env.GITHUB_JOB ?? "",
    step: env.GITHUB_ACTION ?? "",
    runUrl: env.GITHUB_SERVER_URL && env.GITHUB_REPOSITORY && env.GITHUB_RUN_ID ? `${env.GITHUB_SERVER_URL}/${env.GITHUB_REPOSITORY}/actions/runs/${env.GITHUB_RUN_ID}` : undefined,
  };

  const modeRaw = get("mode") || "remote";
  let mode: Mode = "remote";
  if (modeRaw === "remote" || modeRaw === "embedded") mode = modeRaw;
  else errors.push(`input "mode": ${JSON.stringify(modeRaw)} is not a mode; use remote (a Hodei controller you run) or embedded (a controller and agent inside this runner)`);

  const controller = get("controller") || undefined;
  const token = input("token").trim() || undefined;
  const caRaw = input("ca").trim();
  let ca: Settings["ca"];
  if (mode === "remote") {
    if (!controller) errors.push('input "controller" is required with mode: remote: the controller\'s address, HOST[:PORT] (port 7070 when left out)');
    else if (/\s/.test(controller) || controller.includes("/")) errors.push(`input "controller": ${JSON.stringify(controller)} is not an address; give HOST[:PORT], e.g. hodei.example.com:7070`);
    if (!token) errors.push('input "token" is required with mode: remote: a Hodei API token (hodei tokens create), passed from a secret, e.g. token: ${{ secrets.HODEI_TOKEN }}');
  } else {
    if (controller) errors.push('input "controller" has no meaning with mode: embedded (the controller runs inside this runner); leave it out, or use mode: remote');
    if (token) errors.push('input "token" has no meaning with mode: embedded (the embedded controller makes its own); leave it out, or use mode: remote');
    if (caRaw) errors.push('input "ca" has no meaning with mode: embedded (it is reached over a local socket, not TLS); leave it out');
  }
  if (caRaw && mode === "remote") {
    if (caRaw.startsWith("-----BEGIN")) ca = { pem: caRaw.endsWith("\n") ? caRaw : `${caRaw}\n` };
    else {
      const file = resolve(workspace, caRaw);
      if (!isFile(file)) errors.push(`input "ca": no file ${caRaw} in the workspace; give the CA certificate's path, or its PEM text (-----BEGIN CERTIFICATE-----...)`);
      ca = { file };
    }
  }

  const job = get("job");
  const spec = get("spec");
  const repo = get("repo");
  const ref = get("ref");
  let target: Target = { kind: "name", job: job || "" };
  if (job && !JOB_NAME.test(job)) errors.push(`input "job": ${JSON.stringify(job)} is not a job name (lower case letters, digits and "-", at most 63 characters, as metadata.name)`);
  if (repo) {
    if (spec) errors.push('inputs "repo" and "spec" contradict each other: repo runs a job the controller has from a registered repository, spec a file from this workspace; give one');
    if (!job) errors.push('input "repo" needs input "job": the name of the job to run from that repository (hodei jobs ls --repo NAME)');
    if (mode === "embedded") errors.push('input "repo" has no meaning with mode: embedded (the embedded controller has no registered repositories); run the job from the workspace (job or spec), or use mode: remote');
    const at = ref || workflow.sha;
    if (!at) errors.push('input "ref" is empty and GITHUB_SHA is not set; give the branch, tag or commit to run at');
    target = { kind: "repo", repo, job, ref: at };
  } else if (spec) {
    if (ref) errors.push('input "ref" applies only with input "repo"; a spec file runs as it is in the workspace (check out another commit with actions/checkout to run that)');
    const file = resolve(workspace, spec);
    const inside = relative(workspace, file);
    if (inside.startsWith("..") || isAbsolute(inside)) errors.push(`input "spec": ${spec} is outside the workspace ${workspace}; give a path inside it`);
    else if (!existsSync(file)) errors.push(`input "spec": no file ${spec} in the workspace ${workspace} (did a checkout step run first?)`);
    else if (!isFile(file)) errors.push(`input "spec": ${spec} is not a file`);
    target = { kind: "file", spec: file, job: job || undefined };
  } else {
    if (ref) errors.push('input "ref" applies only with input "repo"; a job from the workspace runs as it is checked out');
    if (!job) errors.push('give input "job" (a job under the workspace\'s .hodei/, or with "repo" a registered repository\'s job) or input "spec" (a job file in the workspace)');
  }

  const envVars: Record<string, string> = {};
  const envRaw = input("env");
  envRaw.split(/\r?\n/).forEach((line, i) => {
    if (line.trim() === "" || line.trimStart().startsWith("#")) return;
    const eq = line.indexOf("=");
    const key = (eq < 0 ? line : line.slice(0, eq)).trim();
    if (eq < 0) {
      errors.push(`input "env", line ${i + 1}: ${JSON.stringify(line.trim().slice(0, 80))} is not KEY=VALUE`);
      return;
    }
    if (!ENV_NAME.test(key)) {
      errors.push(`input "env", line ${i + 1}: ${JSON.stringify(key.slice(0, 80))} is not a variable name; use letters, digits and "_", not starting with a digit`);
      return;
    }
    const value = line.slice(eq + 1);
    if (value.includes("\0")) errors.push(`input "env", line ${i + 1}: the value of ${key} contains a NUL character, which no process can receive`);
    if (key in envVars) errors.push(`input "env", line ${i + 1}: ${key} is given twice`);
    envVars[key] = value;
  });

  const wait = bool("wait", true);
  const followLogs = bool("follow-logs", true);
  const cancelOnAbort = bool("cancel-on-abort", true);
  if (!wait && mode === "embedded") errors.push('input "wait": false cannot be used with mode: embedded: the embedded controller stops with this step, so the run must end inside it; use mode: remote to submit and move on');

  const timeout = get("timeout") || undefined;
  let timeoutMs: number | undefined;
  if (timeout) {
    try {
      timeoutMs = parseDuration(timeout);
      if (timeoutMs === 0) timeoutMs = undefined;
    } catch (err) {
      errors.push(`input "timeout": ${(err as Error).message}`);
    }
  }

  if (errors.length > 0) return { ok: false, errors };
  return { ok: true, settings: { mode, controller, token, ca, target, env: envVars, wait, followLogs, timeoutMs, timeout, cancelOnAbort, workflow } };
}

function isFile(path: string): boolean {
  try {
    return statSync(path).isFile();
  } catch {
    return false;
  }
}
