/**
 * What `hodei run TARGET` runs: TARGET is a file, `-` (the spec on stdin), or
 * the name of a job in the current repository's `.hodei/`. Also the `-e`
 * environment. Every bad input is a UsageError that says what to do next.
 */
import { existsSync, statSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { formatSpecError, jobs, loadFile, loadPaths, loadText, MAX_FILE_BYTES, type JobDocument, type LoadResult, type SpecError } from "../schemas/load.js";
import { closest } from "../schemas/suggest.js";
import { UsageError } from "./errors.js";

export interface ResolvedJob {
  job: JobDocument;
  /** Where it came from, as the controller records it (a path, or "<stdin>"). */
  source: string;
  /** Unbuilt fields it uses (schemas/unbuilt.ts). */
  warnings: SpecError[];
}

/** Job names are DNS labels; anything else (a slash, a dot) is taken for a path. */
const JOB_NAME = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

/** The nearest folder from `start` up holding `.hodei/` or `.git`, or undefined. */
export function findRepoRoot(start: string): string | undefined {
  let dir = resolve(start);
  for (;;) {
    if (existsSync(join(dir, ".hodei")) || existsSync(join(dir, ".git"))) return dir;
    const up = dirname(dir);
    if (up === dir) return undefined;
    dir = up;
  }
}

async function readStdin(): Promise<string> {
  if (process.stdin.isTTY) throw new UsageError("`hodei run -` reads the job from stdin, but stdin is a terminal; pipe a file in (hodei run - < job.yaml)");
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of process.stdin) {
    const b = chunk as Buffer;
    size += b.length;
    if (size > MAX_FILE_BYTES) throw new UsageError(`the job on stdin is larger than ${MAX_FILE_BYTES} bytes; a job file is small`);
    chunks.push(b);
  }
  return Buffer.concat(chunks).toString("utf8");
}

/** One job of `loaded`, chosen by `--job` or because it is the only one. */
function pick(loaded: LoadResult, where: string, jobFlag: string | undefined): JobDocument {
  const all = jobs(loaded);
  const job = jobFlag ? all.find((j) => j.metadata.name === jobFlag) : all.length === 1 ? all[0] : undefined;
  if (job) return job;
  const names = all.map((j) => j.metadata.name);
  if (jobFlag) throw new UsageError(`no job named "${jobFlag}" in ${where}${suggestion(jobFlag, names)} (jobs: ${names.join(", ") || "none"})`);
  if (all.length === 0) {
    const kinds = [...new Set(loaded.documents.map((d) => d.kind))].join(", ");
    throw new UsageError(`${where} defines no Job${kinds ? ` (only ${kinds})` : " (it is empty)"}; hodei run needs a file with a \`kind: Job\` document (apiVersion: hodei.dev/v1, see docs/specs.md)`);
  }
  throw new UsageError(`${where} defines ${all.length} jobs (${names.join(", ")}); choose one with --job NAME`);
}

const suggestion = (name: string, names: string[]): string => {
  const c = closest(name, names);
  return c === undefined ? "" : `; did you mean "${c}"?`;
};

const warningsFor = (loaded: LoadResult, job: JobDocument): SpecError[] => loaded.documents.find((d) => d.doc === job)?.warnings ?? [];

function failOnErrors(loaded: LoadResult): void {
  if (loaded.errors.length > 0) throw new UsageError(loaded.errors.map(formatSpecError).join("\n"));
}

/** A job by name from the repository around `cwd`. Errors elsewhere under .hodei/ only matter when the job is not found. */
async function byName(name: string, cwd: string): Promise<ResolvedJob> {
  const root = findRepoRoot(cwd);
  const hodeiDir = root && join(root, ".hodei");
  if (!hodeiDir || !existsSync(hodeiDir)) {
    throw new UsageError(
      `"${name}" is not a file, and there is no .hodei/ folder in ${root ?? cwd}${root ? "" : " or above it"} to look it up by name; give the job's file (hodei run path/to/job.yaml)`,
    );
  }
  const loaded = await loadPaths([hodeiDir]);
  const found = loaded.documents.find((d) => d.kind === "Job" && d.name === name);
  if (!found) {
    const names = jobs(loaded).map((j) => j.metadata.name);
    const broken = loaded.errors.length > 0 ? `\n${loaded.errors.length} problem(s) under .hodei/ may hide it:\n${loaded.errors.map(formatSpecError).join("\n")}` : "";
    throw new UsageError(`no job named "${name}" in ${relative(cwd, hodeiDir) || "."}${suggestion(name, names)} (jobs: ${names.join(", ") || "none"})${broken}`);
  }
  const source = relative(cwd, found.file) || found.file;
  return { job: found.doc as JobDocument, source, warnings: (found.warnings ?? []).map((w) => ({ ...w, file: source })) };
}

/** TARGET and --job to the job to run. */
export async function resolveJob(target: string, jobFlag: string | undefined, cwd = process.cwd()): Promise<ResolvedJob> {
  if (target === "-") {
    const loaded = loadText(await readStdin(), "<stdin>");
    failOnErrors(loaded);
    const job = pick(loaded, "the job on stdin", jobFlag);
    return { job, source: "<stdin>", warnings: warningsFor(loaded, job) };
  }
  const isFile = ((): boolean => {
    try {
      return statSync(resolve(cwd, target)).isFile();
    } catch {
      return false;
    }
  })();
  if (!isFile && JOB_NAME.test(target)) {
    if (jobFlag) throw new UsageError(`--job picks a job inside a file; "${target}" is not a file (to run a job by name, give only its name: hodei run ${target})`);
    return byName(target, cwd);
  }
  const loaded = await loadFile(resolve(cwd, target));
  // Messages name the file as the user wrote it.
  for (const e of loaded.errors) e.file = target;
  failOnErrors(loaded);
  const job = pick(loaded, target, jobFlag);
  return { job, source: target, warnings: warningsFor(loaded, job).map((w) => ({ ...w, file: target })) };
}

/** Environment names as in the job's `env` (schemas/formats.ts "env-name"). */
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * `-e KEY=VALUE` and `-e KEY` (the value from our own environment, as
 * `docker run -e KEY`; an unset KEY is an error rather than silently nothing).
 */
export function parseEnvFlags(flags: readonly string[], env: NodeJS.ProcessEnv = process.env): Record<string, string> {
  const out: Record<string, string> = {};
  for (const f of flags) {
    const eq = f.indexOf("=");
    const key = eq < 0 ? f : f.slice(0, eq);
    if (!ENV_NAME.test(key)) {
      throw new UsageError(`-e ${JSON.stringify(f)}: invalid environment variable name ${JSON.stringify(key)}; use letters, digits and "_", not starting with a digit (-e KEY=VALUE or -e KEY)`);
    }
    const value = eq < 0 ? env[key] : f.slice(eq + 1);
    if (value === undefined) throw new UsageError(`-e ${key}: ${key} is not set in this environment; give a value with -e ${key}=VALUE`);
    if (value.includes("\0")) throw new UsageError(`-e ${key}: the value contains a NUL character (\\0), which no process can receive`);
    out[key] = value;
  }
  return out;
}

/** The job with `extra` added to (and overriding) its `env`; the original is not modified. */
export function withEnv(job: JobDocument, extra: Record<string, string>): JobDocument {
  if (Object.keys(extra).length === 0) return job;
  return { ...job, spec: { ...job.spec, env: { ...job.spec.env, ...extra } } };
}
