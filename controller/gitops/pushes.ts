/**
 * A push, however it arrived (webhook, poll, both, twice): the jobs defined at
 * the pushed commit whose triggers match it get one run each, at that commit.
 *
 * Exactly once without a lock: each run's idempotency key is made of the
 * repo, the commit, the ref and the job, so a second delivery of the same push
 * finds the runs the first one made. repo_pushes records how it arrived.
 */
import { createHash } from "node:crypto";
import type { Logger } from "pino";
import type { Store } from "../store/db.js";
import type { JobDefinitionRow, RepoRow, RunRow } from "../store/schema.js";
import { claimPush, definitionsAt, getRefs, hasCommit, putCommit } from "../store/repos.js";
import { insertRun } from "../store/runs.js";
import type { JobDocument } from "../../schemas/load.js";
import { diffBase, isZeroSha, matchJob, type TriggerEvent } from "./match.js";
import { readCommit, type PushHint, type RefChange } from "./sync.js";
import { ZERO_COMMIT, type Mirror } from "./mirror.js";

/** Where a run came from, stored on it (runs.trigger) and shown by `runs get`. */
export interface RunTrigger {
  event: "push" | "pull_request" | "schedule" | "manual";
  repo: string;
  ref?: string;
  commit?: string;
  before?: string;
  base?: string;
  actor?: string;
  deliveryId?: string;
  /** A pull request from a fork: secrets are to be withheld from it. */
  fork?: boolean;
  /** The pull (merge) request's number. */
  pullRequest?: number;
  via?: string;
}

export interface Push {
  ref: string;
  before: string;
  after: string;
  via: "webhook" | "poll";
  deliveryId?: string;
  actor?: string;
}

export interface PushOutcome {
  /** Runs of jobs whose triggers matched (made now or by an earlier delivery of this push). */
  runs: RunRow[];
  /** Jobs a path filter skipped that asked for a "skipped" status (reportSkipped). */
  skippedByPaths: { job: string; reason: string }[];
  /** Every job with the reason it did or did not run. */
  decisions: { job: string; run: boolean; reason: string }[];
}

const key = (repo: RepoRow, p: Push, job: string): string =>
  `gitops:${repo.id}:${p.after}:${createHash("sha256").update(`${p.ref}\0${job}`).digest("hex").slice(0, 24)}`;

export async function startPushRuns(store: Store, repo: RepoRow, mirror: Mirror, p: Push, log: Logger): Promise<PushOutcome> {
  if (isZeroSha(p.after)) return emptyOutcome(); // a deleted branch or tag starts nothing
  const defs = await definitionsOf(store, repo, mirror, p.after);
  if (defs.length === 0) return emptyOutcome();
  // Changed files from the mirror (a payload's list is cut at 3000 files); a new branch compares with the default branch.
  const against = diffBase({ before: p.before, after: p.after }, repo.branch);
  const base = against?.startsWith("refs/heads/") ? (await getRefs(store.db, repo.id)).get(against) : against;
  const isTag = p.ref.startsWith("refs/tags/");
  const changed = isTag ? undefined : await mirror.changedFiles(base === p.before ? p.before : ZERO_COMMIT, p.after, base);
  await claimPush(store.db, { repoId: repo.id, ref: p.ref, commit: p.after, via: p.via, deliveryId: p.deliveryId });
  const out = await startMatching(store, repo, defs, p.after, {
    event: { kind: "push", ref: p.ref, before: p.before, after: p.after, changed },
    trigger: { event: "push", repo: repo.name, ref: p.ref, commit: p.after, before: p.before, actor: p.actor, deliveryId: p.deliveryId, fork: false, via: p.via },
    key: (job) => key(repo, p, job),
  });
  if (out.runs.length) log.info({ repo: repo.name, ref: p.ref, commit: p.after, via: p.via, runs: out.runs.map((r) => r.id) }, "push started runs");
  return out;
}

const emptyOutcome = (): PushOutcome => ({ runs: [], skippedByPaths: [], decisions: [] });

/** The valid jobs at `commit`, reading the commit's definitions first if no sync has. */
export async function definitionsOf(store: Store, repo: RepoRow, mirror: Mirror, commit: string): Promise<JobDefinitionRow[]> {
  if (!(await hasCommit(store.db, repo.id, commit))) {
    const r = await readCommit(mirror, repo, commit);
    await putCommit(store.db, repo.id, commit, r.defs, r.errors);
  }
  return definitionsAt(store.db, repo.id, commit);
}

/**
 * One run, at `commit`, for each definition whose triggers match the event;
 * every job's decision and reason, and the jobs only a paths filter skipped
 * that asked for a "skipped" status. A job's secrets are resolved when its
 * run is assigned (controller/secrets/resolve.ts): a fork's runs get none.
 */
async function startMatching(
  store: Store,
  repo: RepoRow,
  defs: readonly JobDefinitionRow[],
  commit: string,
  how: { event: TriggerEvent; trigger: RunTrigger; key: (job: string) => string },
): Promise<PushOutcome> {
  const out = emptyOutcome();
  for (const d of defs) {
    const job = d.job as JobDocument;
    const m = matchJob(job.spec.triggers, how.event);
    out.decisions.push({ job: d.name, run: m.run, reason: m.reason });
    if (!m.run) {
      if (m.skippedByPaths && job.spec.triggers?.reportSkipped) out.skippedByPaths.push({ job: d.name, reason: m.reason });
      continue;
    }
    const { run } = await insertRun(store, {
      jobName: d.name,
      job,
      selector: job.spec.selector ?? {},
      priority: job.spec.priority ?? 0,
      source: `${repo.name}@${commit.slice(0, 12)}:${d.file}`,
      idempotencyKey: how.key(d.name),
      trigger: how.trigger,
      repoId: repo.id,
    });
    out.runs.push(run);
  }
  return out;
}

/** A pull request (GitHub) or merge request (GitLab) event, from a webhook. */
export interface PullRequest {
  number: number;
  /** opened, synchronize, reopened, closed... (GitLab's actions mapped to these). */
  action: string;
  /** The server's ref for the head: refs/pull/N/head or refs/merge-requests/N/head. */
  ref: string;
  /** The head commit. */
  head: string;
  /** The head branch's name (filters never look at it). */
  headBranch?: string;
  /** The base branch's name. */
  base: string;
  /** The base commit, when the payload names it. */
  baseCommit?: string;
  /** The head lives in another repository. */
  fork: boolean;
  deliveryId?: string;
  actor?: string;
}

/**
 * One run per (pull request, head commit, job): the action is left out, so
 * `opened` then `synchronize` (or a redelivery, or `reopened`) naming the same
 * head commit start one run; a new head commit starts new ones.
 */
const prKey = (repo: RepoRow, pr: PullRequest, job: string): string =>
  `gitops-pr:${repo.id}:${pr.head}:${createHash("sha256").update(`${pr.number}\0${job}`).digest("hex").slice(0, 24)}`;

/**
 * The jobs defined at a pull request's head commit whose pullRequest triggers
 * match get one run each, at that commit. The head must be in the mirror
 * (Mirror.fetchPullHead); changed files are base...head from the mirror.
 */
export async function startPullRequestRuns(store: Store, repo: RepoRow, mirror: Mirror, pr: PullRequest, log: Logger): Promise<PushOutcome> {
  const defs = await definitionsOf(store, repo, mirror, pr.head);
  if (defs.length === 0) return emptyOutcome();
  const base = pr.baseCommit && (await mirror.hasCommit(pr.baseCommit)) ? pr.baseCommit : (await getRefs(store.db, repo.id)).get(`refs/heads/${pr.base}`);
  const changed = base ? await mirror.changedFiles(ZERO_COMMIT, pr.head, base) : undefined;
  const out = await startMatching(store, repo, defs, pr.head, {
    event: { kind: "pull_request", action: pr.action, base: pr.base, head: pr.headBranch, changed },
    trigger: {
      event: "pull_request",
      repo: repo.name,
      ref: pr.ref,
      commit: pr.head,
      base: `refs/heads/${pr.base}`,
      actor: pr.actor,
      deliveryId: pr.deliveryId,
      fork: pr.fork,
      pullRequest: pr.number,
      via: "webhook",
    },
    key: (job) => prKey(repo, pr, job),
  });
  if (out.runs.length) log.info({ repo: repo.name, pullRequest: pr.number, commit: pr.head, runs: out.runs.map((r) => r.id) }, "pull request started runs");
  return out;
}

/**
 * The Syncer's onChanges: every ref a sync found moved is a push. A hint from
 * a webhook for the same ref and commit names its delivery and pusher.
 */
export function pushesFromSync(store: Store, log: Logger, onOutcome?: (repo: RepoRow, p: Push, o: PushOutcome) => void) {
  return async (repo: RepoRow, changes: readonly RefChange[], mirror: Mirror, hints: readonly PushHint[]): Promise<void> => {
    for (const c of changes) {
      if (isZeroSha(c.after)) continue;
      const hint = hints.find((h) => h.ref === c.ref && h.after === c.after);
      const p: Push = { ref: c.ref, before: c.before, after: c.after, via: hint ? "webhook" : "poll", deliveryId: hint?.deliveryId, actor: hint?.actor };
      try {
        const o = await startPushRuns(store, repo, mirror, p, log);
        onOutcome?.(repo, p, o);
      } catch (err) {
        // One bad push (an unreadable commit) must not keep the others, or the refs' record, from moving on.
        log.error({ err, repo: repo.name, ref: c.ref, commit: c.after }, "could not start the runs of a push");
      }
    }
  };
}
