/**
 * GitOpsService: registering repositories, syncing them, and the jobs they
 * define (proto/hodei/v1/gitops.proto). Credentials go in and never come out.
 */
import { status } from "@grpc/grpc-js";
import type { Logger } from "pino";
import type { GitOpsServiceServer, Job, Repo, RepoSync } from "../../proto/gen/hodei/v1/gitops.js";
import type { Store } from "../store/db.js";
import type { JobDefinitionRow, RepoRow } from "../store/schema.js";
import { commitErrors, countDefinitions, definitionsAt, deleteRepo, getRepoByName, insertRepo, listRepos, listSyncs, type NewRepo } from "../store/repos.js";
import { insertRun, lastRunsOfRepoJobs, listRuns } from "../store/runs.js";
import { SyncError, type Syncer } from "../gitops/sync.js";
import { definitionsOf, type RunTrigger } from "../gitops/pushes.js";
import type { JobDocument } from "../../schemas/load.js";
import { checkManual, idempotencyKey, requestHash, sameRequest } from "./submit-checks.js";
import { redactUrl } from "../gitops/mirror.js";
import { urlProblem } from "../gitops/urls.js";
import { shortTriggers } from "../gitops/describe.js";
import { runToProto, ms } from "./convert.js";
import { ApiError, conflict, invalid, notFound } from "./errors.js";
import { unaryHandler } from "./unary.js";
import type { SubmitLimiter } from "./limits.js";
import { PROJECT_NAME, principalOf, projectForSubmit, seesProject } from "../auth/principal.js";

export interface GitOpsDeps {
  store: Store;
  syncer: Syncer;
  log: Logger;
  /** Commit statuses that could not be posted, per repo id, newest first (gitops/status.ts). */
  statusErrors?: (repoId: string) => string[] | Promise<string[]>;
  /** Submit rate per caller and queued runs per project (api/limits.ts), as for SubmitRun. */
  limiter?: SubmitLimiter;
}

export const REPO_NAME = /^[a-z0-9][a-z0-9._-]{0,62}$/;
export const DEFAULT_POLL_MS = 60_000;
/** Polling a server more often than this is abuse, not freshness. */
export const MIN_POLL_MS = 5_000;
const MAX_SECRET = 4096;

/** A name for a repo from its URL: the last path segment, lower-cased, without .git. */
export function nameFromUrl(url: string): string {
  const last = url.replace(/[/\\]+$/, "").replace(/\.git$/i, "").split(/[/:\\]/).pop() ?? "";
  return last.toLowerCase().replace(/[^a-z0-9._-]+/g, "-").replace(/^[^a-z0-9]+/, "").slice(0, 63);
}

/** A branch name git would accept (git check-ref-format --branch), checked without git. */
function branchProblem(b: string): string | undefined {
  // eslint-disable-next-line no-control-regex
  if (!b || b.length > 255 || b.startsWith("-") || b.startsWith("/") || b.endsWith("/") || b.endsWith(".lock") || b.endsWith(".") || /\.\.|@\{|\/\/|[\s~^:?*[\\\x00-\x1f\x7f]/.test(b)) {
    return `"${b.slice(0, 100)}" is not a valid branch name`;
  }
  return undefined;
}

/** The definitions folder, relative to the repository root, without ./ or a trailing slash. */
function cleanPath(p: string): string {
  const path = (p || ".hodei").replace(/^\.\/+/, "").replace(/\/+$/, "") || ".";
  // eslint-disable-next-line no-control-regex
  if (path.startsWith("/") || path.split("/").includes("..") || /[\x00-\x1f\x7f]/.test(path) || path.length > 500) {
    throw invalid(`path "${p.slice(0, 100)}" must be a folder inside the repository (relative, no "..")`);
  }
  return path;
}

/** What `hodei repos add` asked for, checked. */
export function checkNewRepo(req: { name: string; url: string; branch: string; path: string; platform: boolean; webhookSecret: string; token: string; pollIntervalMs: number }): NewRepo {
  const url = req.url.trim();
  const problem = urlProblem(url);
  if (problem) throw invalid(problem);
  const name = req.name || nameFromUrl(url);
  if (!REPO_NAME.test(name)) throw invalid(`repository name "${name.slice(0, 100)}" must be lower case letters, digits, '.', '_' or '-', starting with a letter or digit, at most 63 characters`);
  const branch = req.branch || "main";
  const bad = branchProblem(branch);
  if (bad) throw invalid(bad);
  if (req.webhookSecret.length > MAX_SECRET || req.token.length > MAX_SECRET) throw invalid(`a token or webhook secret may be at most ${MAX_SECRET} characters`);
  // eslint-disable-next-line no-control-regex
  if (/[\s\x00-\x1f\x7f]/.test(req.token)) throw invalid("the token contains spaces or control characters (a trailing newline in the token file is removed; others are not)");
  const poll = req.pollIntervalMs === 0 ? DEFAULT_POLL_MS : req.pollIntervalMs < 0 ? 0 : req.pollIntervalMs;
  if (poll !== 0 && poll < MIN_POLL_MS) throw invalid(`poll interval must be at least ${MIN_POLL_MS / 1000}s (or negative: never poll)`);
  if (poll > 2 ** 31 - 1) throw invalid("poll interval is too long (at most 24 days)");
  return {
    name,
    url,
    branch,
    path: cleanPath(req.path),
    platform: req.platform,
    webhookSecret: req.webhookSecret || undefined,
    token: req.token || undefined,
    pollIntervalMs: poll,
  };
}


export function gitopsService(deps: GitOpsDeps): GitOpsServiceServer {
  const { store, syncer, log } = deps;
  const db = store.db;
  const unary = unaryHandler(log);

  /** The repo, if the caller may see it (its token's projects): another project's repo is "not found". */
  async function mustGet(name: string, call?: object): Promise<RepoRow> {
    const r = await getRepoByName(db, name);
    if (!r || !seesProject(principalOf(call), r.project)) throw notFound(`repository ${name.slice(0, 100)}`);
    return r;
  }

  const visibleRepos = async (call: object): Promise<RepoRow[]> => (await listRepos(db)).filter((r) => seesProject(principalOf(call), r.project));

  async function view(r: RepoRow, detail: boolean): Promise<Repo> {
    const head = r.last_sync_commit ?? "";
    const [errors, jobs, syncs, statusErrors] = await Promise.all([
      head ? commitErrors(db, r.id, head) : Promise.resolve(undefined),
      head ? countDefinitions(db, r.id, head) : Promise.resolve(0),
      listSyncs(db, r.id, detail ? 10 : 1),
      detail && deps.statusErrors ? deps.statusErrors(r.id) : [],
    ]);
    const toSync = (s: (typeof syncs)[number]): RepoSync => ({ startedAtMs: ms(s.started_at), durationMs: s.duration_ms, via: s.via, commit: s.commit ?? "", error: s.error ?? "" });
    return {
      name: r.name,
      url: redactUrl(r.url),
      branch: r.branch,
      path: r.path,
      platform: r.platform,
      hasWebhookSecret: r.webhook_secret !== null,
      hasToken: r.token !== null,
      pollIntervalMs: r.poll_interval_ms,
      createdAtMs: ms(r.created_at),
      headCommit: head,
      lastSync: syncs[0] ? toSync(syncs[0]) : undefined,
      errors: errors ?? [],
      jobs,
      recentSyncs: detail ? syncs.map(toSync) : [],
      statusErrors,
      project: r.project,
    };
  }

  function jobView(repo: RepoRow, d: JobDefinitionRow): Job {
    const job = d.job as { spec?: { triggers?: unknown } };
    return { repo: repo.name, name: d.name, file: d.file, commit: d.commit, triggers: shortTriggers(job.spec?.triggers), jobJson: JSON.stringify(d.job), recentRuns: [] };
  }

  async function syncOrExplain(repo: RepoRow, via: "add" | "manual"): Promise<void> {
    try {
      await syncer.sync(repo, via);
    } catch (err) {
      if (err instanceof SyncError) throw new ApiError("conflict", `sync of ${repo.name} failed: ${err.message}`, { code: status.FAILED_PRECONDITION, retryable: true });
      throw err;
    }
  }

  return {
    addRepo: unary("AddRepo", async (req, call) => {
      if (req.project && !PROJECT_NAME.test(req.project)) throw invalid(`project "${req.project.slice(0, 100)}" must be lower case letters, digits, '.', '_' or '-', starting with a letter or digit, at most 63 characters`);
      const input = { ...checkNewRepo(req), project: projectForSubmit(principalOf(call), req.project) };
      const row = await insertRepo(db, input);
      if (!row) throw conflict(`a repository named ${input.name} already exists (hodei repos rm ${input.name} first, or choose --name)`, status.ALREADY_EXISTS);
      log.info({ repo: row.name, url: redactUrl(row.url) }, "repository added");
      // The first sync's failure is recorded on the repo (last_sync), not thrown: the repo is registered.
      if (!req.noSync) await syncer.sync(row, "add").catch(() => {});
      return view((await getRepoByName(db, row.name)) ?? row, true);
    }),

    listRepos: unary("ListRepos", async (_req, call) => ({ repos: await Promise.all((await visibleRepos(call)).map((r) => view(r, false))) })),

    getRepo: unary("GetRepo", async (req, call) => view(await mustGet(req.name, call), true)),

    syncRepo: unary("SyncRepo", async (req, call) => {
      const repo = await mustGet(req.name, call);
      await syncOrExplain(repo, "manual");
      return view(await mustGet(req.name), true);
    }),

    removeRepo: unary("RemoveRepo", async (req, call) => {
      const repo = await mustGet(req.name, call);
      const v = await view(repo, false);
      await deleteRepo(db, repo.name);
      log.info({ repo: repo.name }, "repository removed");
      return v;
    }),

    listJobs: unary("ListJobs", async (req, call) => {
      const repos = req.repo ? [await mustGet(req.repo, call)] : await visibleRepos(call);
      const jobs: Job[] = [];
      const errors: string[] = [];
      for (const repo of repos) {
        const head = repo.last_sync_commit;
        if (!head) continue;
        const [defs, errs, last] = await Promise.all([definitionsAt(db, repo.id, head), commitErrors(db, repo.id, head), lastRunsOfRepoJobs(db, repo.id)]);
        for (const d of defs) {
          const run = last.get(d.name);
          jobs.push({ ...jobView(repo, d), lastRun: run ? runToProto(run) : undefined });
        }
        for (const e of errs ?? []) errors.push(`${repo.name}: ${e}`);
      }
      return { jobs, errors };
    }),

    getJob: unary("GetJob", async (req, call) => {
      const repo = await mustGet(req.repo, call);
      const head = repo.last_sync_commit;
      const def = head ? (await definitionsAt(db, repo.id, head)).find((d) => d.name === req.name) : undefined;
      if (!def) {
        const where = head ? `at ${repo.branch} ${head.slice(0, 12)}` : "(the repository has not synced yet)";
        throw new ApiError("not_found", `repository ${repo.name} defines no job ${req.name.slice(0, 100)} ${where}; hodei jobs ls --repo ${repo.name} lists its jobs`);
      }
      const runs = await listRuns(db, { limit: 10, jobName: def.name, repoId: repo.id });
      return { ...jobView(repo, def), lastRun: runs[0] ? runToProto(runs[0]) : undefined, recentRuns: runs.map((r) => runToProto(r)) };
    }),

    runJob: unary("RunJob", async (req, call) => {
      const key = idempotencyKey(req.idempotencyKey);
      const repo = await mustGet(req.repo, call);
      deps.limiter?.take(principalOf(call)?.name ?? "anonymous");
      await deps.limiter?.checkQueue(db, repo.project);
      const env = checkEnv(req.env);
      const ref = req.ref || repo.branch;
      if (ref.length > 255) throw invalid("ref is longer than 255 characters");
      // The ref's head as it is now: sync first (a commit sha the mirror already has needs no fetch).
      const mirror = await syncer.mirror(repo);
      let resolved = /^[0-9a-f]{40}$/.test(ref) && (await mirror.hasCommit(ref)) ? { commit: ref, ref } : undefined;
      if (!resolved) {
        await syncOrExplain(repo, "manual");
        resolved = await mirror.resolveCommit(ref);
      }
      const commit = resolved?.commit;
      if (!commit) throw notFound(`branch, tag or commit ${ref.slice(0, 100)} in repository ${repo.name}`);
      const def = (await definitionsOf(store, repo, mirror, commit)).find((d) => d.name === req.job);
      if (!def) {
        const errors = (await commitErrors(db, repo.id, commit)) ?? [];
        const hint = errors.length ? `; its definitions have errors:\n${errors.slice(0, 20).join("\n")}` : `; hodei jobs ls --repo ${repo.name} lists its jobs`;
        throw new ApiError("not_found", `repository ${repo.name} defines no job ${req.job.slice(0, 100)} at ${ref.slice(0, 100)} (${commit.slice(0, 12)})${hint}`);
      }
      const job = def.job as JobDocument;
      checkManual(job, "started by hand or through the API");
      const withEnv: JobDocument = Object.keys(env).length ? { ...job, spec: { ...job.spec, env: { ...job.spec.env, ...env } } } : job;
      const trigger: RunTrigger = { event: "manual", repo: repo.name, ref: resolved!.ref, commit, via: "api" };
      const hash = requestHash("run-job", repo.id, def.name, commit, JSON.stringify(env), String(req.stdin));
      const { run, created } = await insertRun(store, {
        jobName: def.name,
        job: withEnv,
        selector: job.spec.selector ?? {},
        priority: job.spec.priority ?? 0,
        source: `${repo.name}@${commit.slice(0, 12)}:${def.file}`,
        idempotencyKey: key,
        requestHash: hash,
        trigger,
        repoId: repo.id,
        stdin: req.stdin,
        project: repo.project,
        submittedBy: principalOf(call)?.name,
      });
      return runToProto(created ? run : sameRequest(run, hash, key));
    }),
  };
}

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const MAX_ENV_VALUE = 32 * 1024;

/** -e KEY=VALUE from the client, checked as the schema checks env:. */
function checkEnv(env: Record<string, string>): Record<string, string> {
  const keys = Object.keys(env);
  if (keys.length > 200) throw invalid(`${keys.length} environment variables; the limit is 200`);
  for (const k of keys) {
    if (!ENV_NAME.test(k) || k.length > 256) throw invalid(`environment variable name "${k.slice(0, 100)}" must be letters, digits and _, not starting with a digit`);
    if (env[k]!.length > MAX_ENV_VALUE || env[k]!.includes("\0")) throw invalid(`environment variable ${k}: its value is over ${MAX_ENV_VALUE} characters or holds a NUL byte`);
    if (k.startsWith("HODEI_")) throw invalid(`environment variable ${k}: names starting with HODEI_ are set by Hodei`);
  }
  return env;
}
