// Turns an ExecSpec into what spawn() needs: the workspace on disk, the script
// file, the argv, the working directory (kept inside the workspace) and the env.
import { createHash } from "node:crypto";
import { accessSync, constants, statSync } from "node:fs";
import { mkdir, rm, stat, writeFile } from "node:fs/promises";
import { dirname, isAbsolute, join, relative, resolve } from "node:path";
import type { ExecSpec } from "../proto/gen/hodei/v1/agent.js";
import type { JobRequest } from "./executor.js";
import { SpawnError } from "./errors.js";
import { unpackBundle } from "./unpack.js";
import { checkout, CheckoutError } from "./checkout.js";
import { asUser, giveTree } from "./run-as.js";

export interface LaunchPlan {
  file: string;
  args: string[];
  cwd: string;
  env: Record<string, string>;
}

// Inherited from the agent so tools behave as in a login shell; everything
// else (tokens, the agent's own config) stays out of jobs.
const INHERITED_ENV = ["PATH", "HOME", "USER", "LOGNAME", "SHELL", "LANG", "LC_ALL", "LC_CTYPE", "TERM", "TZ", "TMPDIR"];

/** `<runId>-<attempt>` with the run id made safe as one path segment (workspace, spool file, cgroup). */
export function runFileName(runId: string, attempt: number): string {
  return `${runId.replace(/[^A-Za-z0-9._-]/g, "_")}-${attempt}`;
}

/** `<workDir>/runs/<runId>-<attempt>`. */
export function workspacePath(workDir: string, runId: string, attempt: number): string {
  return join(workDir, "runs", runFileName(runId, attempt));
}

/** Where one attempt lives on disk. */
export interface AttemptDirs {
  /** The job's workspace (HODEI_WORKSPACE; workdir is relative to it). */
  workspace: string;
  /** The agent's own files of the attempt (the script). */
  scratch: string;
  /** What the agent removes when the attempt ends (unless --keep-workspaces). Never a workspace in place. */
  removable: string;
}

/**
 * The attempt's directories. Usually a fresh `<workDir>/runs/<run>-<attempt>`,
 * the agent's files in its `.hodei/`, all removed at the end. A run in place
 * (spec.workspace_dir, `hodei run --in-place`) works in the submitter's own
 * directory: the agent writes nothing there and never removes it; its own
 * files go to `<workDir>/runs/<run>-<attempt>`, which is removed instead.
 */
export function attemptDirs(workDir: string, runId: string, attempt: number, spec: Pick<ExecSpec, "workspaceDir">): AttemptDirs {
  const own = workspacePath(workDir, runId, attempt);
  if (spec.workspaceDir) return { workspace: spec.workspaceDir, scratch: own, removable: own };
  return { workspace: own, scratch: join(own, ".hodei"), removable: own };
}

/**
 * The file execvp would run for `file`: as given (relative to cwd) when it
 * has a '/', else the first executable match on PATH (an empty entry is the
 * cwd). Throws SpawnError ENOENT / EACCES as spawn() itself would.
 */
export function resolveExecutable(file: string, path: string, cwd: string): string {
  const candidates = file.includes("/") ? [resolve(cwd, file)] : path.split(":").map((dir) => resolve(cwd, dir || ".", file));
  let denied: string | undefined;
  for (const candidate of candidates) {
    try {
      if (!statSync(candidate).isFile()) continue;
    } catch {
      continue;
    }
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      denied ??= candidate;
    }
  }
  if (denied) throw new SpawnError(`permission denied: ${denied} is not executable`, "EACCES");
  throw new SpawnError(`command not found: ${file}`, "ENOENT");
}

export function jobEnv(req: JobRequest, parent: NodeJS.ProcessEnv = process.env): Record<string, string> {
  const env: Record<string, string> = {};
  for (const key of INHERITED_ENV) {
    const value = parent[key];
    if (value !== undefined) env[key] = value;
  }
  env.PATH ??= "/usr/local/bin:/usr/bin:/bin";
  env.CI = "true";
  Object.assign(env, req.spec.env);
  // Identity last: a job cannot pretend to be another run, commit or event.
  Object.assign(env, req.spec.hodeiEnv);
  env.HODEI_RUN_ID = req.runId;
  env.HODEI_ATTEMPT = String(req.attempt);
  env.HODEI_JOB = req.jobName;
  env.HODEI_WORKSPACE = req.workspace;
  return env;
}

/** The workdir resolved inside the workspace; anything escaping it is refused. */
export function resolveWorkdir(workspace: string, workdir: string): string {
  const cwd = resolve(workspace, workdir || ".");
  const rel = relative(workspace, cwd);
  if (rel === ".." || rel.startsWith("../") || isAbsolute(rel)) {
    throw new SpawnError(`workdir "${workdir}" is outside the run's workspace; use a path relative to it`);
  }
  return cwd;
}

/** The run's working tree (the submitter's files) into the workspace, checked against its digest. */
async function unpackSource(req: JobRequest): Promise<void> {
  const digest = req.spec.sourceDigest;
  if (!req.fetchSource) throw new SpawnError("the run has a source bundle but this executor cannot fetch it");
  let data: Buffer;
  try {
    data = await req.fetchSource(digest);
  } catch (err) {
    throw new SpawnError(`cannot fetch the run's source bundle ${digest.slice(0, 12)}: ${(err as Error).message}`, undefined, { cause: err });
  }
  const got = createHash("sha256").update(data).digest("hex");
  if (got !== digest) throw new SpawnError(`the run's source bundle arrived damaged (sha256 ${got.slice(0, 12)}, expected ${digest.slice(0, 12)})`);
  try {
    await mkdir(req.workspace, { recursive: true });
    await unpackBundle(data, req.workspace);
  } catch (err) {
    if (err instanceof SpawnError) throw err;
    // An fs error (ENOTDIR for "a" then "a/b", ENOSPC): a plain ENOENT would otherwise read as "command not found".
    throw new SpawnError(`cannot unpack the run's source bundle: ${(err as Error).message}`, undefined, { cause: err });
  }
}

/**
 * A run in place may start only on an agent that allows it, in a directory
 * that is there, and with nothing else to put into it (a bundle, a checkout).
 */
async function checkInPlace(req: JobRequest): Promise<void> {
  const dir = req.spec.workspaceDir;
  if (!req.allowInPlace) {
    throw new SpawnError(
      `this agent does not run jobs in place (the run asks to work in ${dir} itself); only the embedded controller's own agent does, started with --allow-in-place. Run without --in-place`,
    );
  }
  if (!isAbsolute(dir)) throw new SpawnError(`the run's in-place directory "${dir}" is not an absolute path`);
  if (req.workspace !== dir) throw new SpawnError(`the run's in-place directory ${dir} is not its workspace ${req.workspace}`);
  if (req.spec.sourceDigest || req.spec.checkout) throw new SpawnError("a run in place cannot also have a source bundle or a checkout: its directory is used as it is");
  let isDir: boolean;
  try {
    isDir = (await stat(dir)).isDirectory();
  } catch (err) {
    throw new SpawnError(`cannot run in place in ${dir}: ${(err as NodeJS.ErrnoException).code === "ENOENT" ? "it no longer exists" : (err as Error).message}`, undefined, { cause: err });
  }
  if (!isDir) throw new SpawnError(`cannot run in place in ${dir}: it is not a directory`);
}

/** The repository at the run's commit into the (empty) workspace; a CheckoutError ends the run with reason checkout. */
async function checkoutSource(req: JobRequest, signal?: AbortSignal): Promise<void> {
  const c = req.spec.checkout!;
  if (!req.gitCacheDir) throw new CheckoutError("the run needs a checkout but this executor has no git cache");
  await checkout({ url: c.url, commit: c.commit, ref: c.ref || undefined, token: c.token || undefined }, req.workspace, { cacheRoot: req.gitCacheDir, timeoutMs: req.checkoutTimeoutMs, signal });
}

/**
 * The run's secrets as files, mode 0600, in a private directory (0700) of the
 * agent's own, outside the workspace (a kept workspace, a run in place, a
 * cache never holds one), removed when the attempt ends. Returns the variables
 * to add: HODEI_SECRETS_DIR and each `env:` entry.
 */
async function writeSecrets(req: JobRequest, secrets: ExecSpec["secrets"]): Promise<Record<string, string>> {
  const dir = req.secretsDir;
  if (!dir) throw new SpawnError("the run has secrets but this executor has no directory for them");
  const env: Record<string, string> = { HODEI_SECRETS_DIR: dir };
  try {
    await rm(dir, { recursive: true, force: true });
    await mkdir(dirname(dir), { recursive: true, mode: 0o700 });
    await mkdir(dir, { mode: 0o700 });
    for (const s of secrets) {
      await writeFile(join(dir, s.name), s.value, { mode: 0o600, flag: "wx" });
      if (s.env) env[s.env] = Buffer.from(s.value).toString("utf8");
    }
  } catch (err) {
    // The message names the directory, never a value.
    throw new SpawnError(`cannot write the run's secrets to ${dir}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, undefined, { cause: err });
  }
  return env;
}

/** Everything on disk for the attempt, and how to start it (as req.runAs, when set: run-as.ts). */
export async function prepareLaunch(req: JobRequest, signal?: AbortSignal): Promise<LaunchPlan> {
  const user = req.runAs;
  if (user && req.spec.workspaceDir) throw new SpawnError("a run in place cannot run as another user (--run-as): its directory belongs to its submitter");
  const plan = await buildPlan(req, signal);
  if (!user) return plan;
  try {
    await giveTree(req.workspace, user);
    if (req.spec.secrets.length > 0 && req.secretsDir) await giveTree(req.secretsDir, user);
  } catch (err) {
    throw new SpawnError(`cannot give the workspace to user ${user.name}: ${(err as Error).message}`, (err as NodeJS.ErrnoException).code, { cause: err });
  }
  return asUser(plan, user, resolveExecutable(plan.file, plan.env.PATH ?? "", plan.cwd));
}

async function buildPlan(req: JobRequest, signal?: AbortSignal): Promise<LaunchPlan> {
  const { spec, workspace } = req;
  // Before anything of the job is fetched, written or run.
  if (spec.secretsError) throw new SpawnError(spec.secretsError);
  const hasScript = spec.script.trim() !== "";
  const hasCommand = spec.command.length > 0;
  if (hasScript === hasCommand) {
    throw new SpawnError(hasScript ? "spec has both script and command; give one" : "spec has neither script nor command");
  }
  const cwd = resolveWorkdir(workspace, spec.workdir);
  if (spec.workspaceDir) await checkInPlace(req);
  if (spec.checkout) await checkoutSource(req, signal);
  if (spec.sourceDigest) await unpackSource(req);
  const scratch = req.scratch ?? join(workspace, ".hodei");
  try {
    await mkdir(scratch, { recursive: true });
    await mkdir(cwd, { recursive: true });
  } catch (err) {
    throw new SpawnError(`cannot create the workspace: ${(err as Error).message}`, (err as NodeJS.ErrnoException).code, { cause: err });
  }
  const env = jobEnv(req);
  if (spec.secrets.length > 0) Object.assign(env, await writeSecrets(req, spec.secrets));
  if (hasCommand) return { file: spec.command[0]!, args: spec.command.slice(1), cwd, env };

  const shell = spec.shell || "bash";
  if (shell !== "bash" && shell !== "sh") throw new SpawnError(`shell "${shell}" is not supported; use bash or sh`);
  const file = join(scratch, "script.sh");
  // The options are also on the command line; the first line keeps them when
  // someone re-runs the file by hand. It shifts the script's line numbers by one.
  const prelude = shell === "bash" ? "set -euo pipefail\n" : "set -e\n";
  await writeFile(file, prelude + spec.script + (spec.script.endsWith("\n") ? "" : "\n"), { mode: 0o700 });
  const args = shell === "bash" ? ["--noprofile", "--norc", "-eo", "pipefail", file] : ["-e", file];
  return { file: shell, args, cwd, env };
}
