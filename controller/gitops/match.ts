/**
 * Would this event start this job? The one decision for pushes, pull
 * requests, schedules and manual runs, with GitHub Actions' `on:` semantics
 * ("Workflow syntax for GitHub Actions": on.push.<branches|tags>,
 * on.pull_request.<branches>, on.<push|pull_request>.paths):
 *
 * push
 * - a deleted branch or tag never runs a job;
 * - branch filters only: tag pushes do not run it; tag filters only: branch
 *   pushes do not; neither: both do;
 * - with branch filters and paths filters, both must pass; paths are not
 *   evaluated for tag pushes;
 * - changed files not known (GitHub: no diff generated) → the paths filter
 *   is not evaluated and passes, as GitHub runs the workflow then;
 * - a new branch (`before` all zeros) is compared with the default branch:
 *   diffBase() says what to diff against; the caller lists the files.
 *
 * pull_request
 * - the action must be in `types` (default: opened, synchronize, reopened);
 * - `branches` / `branchesIgnore` match the base branch (the target);
 * - `paths` / `pathsIgnore` match the files the pull request changes.
 *
 * `skippedByPaths` is set when every other filter passed and only the paths
 * filter kept the job from running: the case `reportSkipped: true` reports a
 * "skipped" commit status for (so a required check does not wait forever).
 *
 * Pure: no I/O, no clock. Reasons name the pattern that matched or excluded.
 */
import { DEFAULT_PULL_REQUEST_TYPES, type PullRequestType, type ScheduleEntry, type Triggers } from "../../schemas/types.js";
import { filterName, filterPaths, list, q, type Verdict } from "./filters.js";

export interface PushEvent {
  kind: "push";
  /** The full ref: refs/heads/NAME or refs/tags/NAME. */
  ref: string;
  /** The commit before the push; all zeros for a new branch or tag. */
  before?: string;
  /** The commit after the push; all zeros when the ref was deleted. */
  after?: string;
  /** The ref was deleted (GitHub's `deleted`; also implied by `after` all zeros). */
  deleted?: boolean;
  /** The ref is new (GitHub's `created`; also implied by `before` all zeros). */
  created?: boolean;
  /** Files changed by the push (for a new branch: compared with the default branch); undefined when not known. */
  changed?: readonly string[];
}

export interface PullRequestEvent {
  kind: "pull_request";
  /** The activity type: opened, synchronize, closed... */
  action: string;
  /** The base branch (the one the pull request targets), as a name or refs/heads/NAME. */
  base: string;
  /** The head branch (the pull request's own); filters never look at it (GitHub matches the base). */
  head?: string;
  /** Files changed by the pull request (three-dot diff); undefined when not known. */
  changed?: readonly string[];
}

export interface ScheduleEvent {
  kind: "schedule";
  /** The cron expression that fired; undefined asks whether the job has any schedule at all. */
  cron?: string;
}

export interface ManualEvent {
  kind: "manual";
}

export type TriggerEvent = PushEvent | PullRequestEvent | ScheduleEvent | ManualEvent;

export interface MatchResult {
  run: boolean;
  reason: string;
  /** Every filter but the paths filter passed: a candidate for a "skipped" commit status. */
  skippedByPaths?: boolean;
}

const ZERO_SHA = /^0+$/;
export const isZeroSha = (sha: string | undefined): boolean => sha !== undefined && ZERO_SHA.test(sha);

/**
 * What a push's changed files are computed against: the commit before the
 * push, or for a new branch (before all zeros) the default branch. Undefined
 * for a deletion (nothing to compare: it never runs a job).
 */
export function diffBase(e: Pick<PushEvent, "before" | "after" | "deleted" | "created">, defaultBranch: string): string | undefined {
  if (e.deleted === true || isZeroSha(e.after)) return undefined;
  if (e.created === true || isZeroSha(e.before) || e.before === undefined) return `refs/heads/${defaultBranch}`;
  return e.before;
}

const HEADS = "refs/heads/";
const TAGS = "refs/tags/";

export function matchJob(triggers: Triggers | undefined, event: TriggerEvent): MatchResult {
  switch (event.kind) {
    case "push":
      return matchPush(triggers, event);
    case "pull_request":
      return matchPullRequest(triggers, event);
    case "schedule":
      return matchSchedule(triggers, event);
    case "manual":
      return triggers?.manual === false
        ? { run: false, reason: "manual: false (runs only from its push, pull request or schedule triggers)" }
        : { run: true, reason: triggers?.manual === true ? "manual: true" : "manual runs are allowed (manual is true by default)" };
  }
}

/** "branch 'main' matched 'main'; any change" reads badly: leave out the parts that filtered nothing. */
const join = (parts: readonly (string | undefined)[]): string => parts.filter((p) => p !== undefined).join("; ");

function pathsPart(changed: readonly string[] | undefined, include: readonly string[] | undefined, ignore: readonly string[] | undefined, note?: string): Verdict | undefined {
  if (include === undefined && ignore === undefined) return undefined;
  if (changed === undefined) {
    const field = include !== undefined ? `paths ${list(include)}` : `pathsIgnore ${list(ignore!)}`;
    return { pass: true, reason: `changed files not known, so ${field} not evaluated (GitHub runs the workflow when it has no diff)` };
  }
  const v = filterPaths(changed, include, ignore);
  return note === undefined ? v : { ...v, reason: `${v.reason} (${note})` };
}

function matchPush(triggers: Triggers | undefined, e: PushEvent): MatchResult {
  const push = triggers?.push;
  if (push === undefined) return { run: false, reason: triggers === undefined ? "no triggers: runs only when asked" : "no push trigger" };
  const isBranch = e.ref.startsWith(HEADS);
  const isTag = e.ref.startsWith(TAGS);
  if (!isBranch && !isTag) return { run: false, reason: `ref ${q(e.ref)} is neither a branch (refs/heads/) nor a tag (refs/tags/)` };
  const what = isBranch ? "branch" : "tag";
  const name = e.ref.slice(isBranch ? HEADS.length : TAGS.length);
  if (e.deleted === true || isZeroSha(e.after)) return { run: false, reason: `${what} ${q(name)} was deleted: deletions do not start runs` };

  const branchFilters = push.branches !== undefined || push.branchesIgnore !== undefined;
  const tagFilters = push.tags !== undefined || push.tagsIgnore !== undefined;
  if (isTag) {
    if (branchFilters && !tagFilters) return { run: false, reason: `tag ${q(name)}: push has only branch filters, so tag pushes do not run it` };
    const v = filterName("tag", name, "tags", push.tags, push.tagsIgnore);
    const pathsNote = push.paths !== undefined || push.pathsIgnore !== undefined ? "paths are not evaluated for tag pushes" : undefined;
    return { run: v.pass, reason: join([tagFilters ? v.reason : `any tag (${q(name)})`, v.pass ? pathsNote : undefined]) };
  }
  if (tagFilters && !branchFilters) return { run: false, reason: `branch ${q(name)}: push has only tag filters, so branch pushes do not run it` };
  const b = filterName("branch", name, "branches", push.branches, push.branchesIgnore);
  if (!b.pass) return { run: false, reason: b.reason };
  const created = e.created === true || isZeroSha(e.before);
  const p = pathsPart(e.changed, push.paths, push.pathsIgnore, created ? "new branch: changed files compared with the default branch" : undefined);
  const branchReason = branchFilters ? b.reason : `any branch (${q(name)})`;
  if (p === undefined) return { run: true, reason: branchFilters ? b.reason : `any push: no branch, tag or path filters (${q(name)})` };
  if (!p.pass) return { run: false, reason: join([branchFilters ? b.reason : undefined, p.reason]), skippedByPaths: true };
  return { run: true, reason: join([branchReason, p.reason]) };
}

function matchPullRequest(triggers: Triggers | undefined, e: PullRequestEvent): MatchResult {
  const pr = triggers?.pullRequest;
  if (pr === undefined) return { run: false, reason: triggers === undefined ? "no triggers: runs only when asked" : "no pullRequest trigger" };
  const types: readonly string[] = pr.types ?? DEFAULT_PULL_REQUEST_TYPES;
  if (!types.includes(e.action as PullRequestType)) {
    return { run: false, reason: `action ${q(e.action)} is not in types [${types.join(", ")}]${pr.types === undefined ? " (the default)" : ""}` };
  }
  const base = e.base.startsWith(HEADS) ? e.base.slice(HEADS.length) : e.base;
  const branchFilters = pr.branches !== undefined || pr.branchesIgnore !== undefined;
  const b = filterName("base branch", base, "branches", pr.branches, pr.branchesIgnore);
  if (!b.pass) return { run: false, reason: b.reason };
  const typeReason = `action ${q(e.action)} is in types`;
  const p = pathsPart(e.changed, pr.paths, pr.pathsIgnore);
  if (p === undefined) return { run: true, reason: join([typeReason, branchFilters ? b.reason : `any base branch (${q(base)})`]) };
  if (!p.pass) return { run: false, reason: join([branchFilters ? b.reason : undefined, p.reason]), skippedByPaths: true };
  return { run: true, reason: join([typeReason, branchFilters ? b.reason : undefined, p.reason]) };
}

const cronOf = (s: ScheduleEntry): string => (typeof s === "string" ? s : s.cron);
const describeEntry = (s: ScheduleEntry): string => `${q(cronOf(s))} (${typeof s === "string" ? "UTC" : (s.timezone ?? "UTC")})`;

function matchSchedule(triggers: Triggers | undefined, e: ScheduleEvent): MatchResult {
  const entries = triggers?.schedule ?? [];
  if (entries.length === 0) return { run: false, reason: "no schedule" };
  if (e.cron === undefined) return { run: true, reason: `on its schedule: ${entries.map(describeEntry).join(", ")}` };
  const fired = e.cron.trim().split(/\s+/).join(" ");
  const entry = entries.find((s) => cronOf(s).trim().split(/\s+/).join(" ") === fired);
  return entry === undefined
    ? { run: false, reason: `schedule ${q(e.cron)} is not one of its entries: ${entries.map(describeEntry).join(", ")}` }
    : { run: true, reason: `schedule ${describeEntry(entry)}` };
}
