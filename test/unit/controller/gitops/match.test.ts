/**
 * Which events start which jobs, as GitHub Actions decides for `on:`
 * (Workflow syntax for GitHub Actions: on.push.<branches|tags|branches-ignore|tags-ignore>,
 * on.pull_request.<branches|branches-ignore>, on.<push|pull_request>.<paths|paths-ignore>,
 * https://docs.github.com/en/actions/reference/workflows-and-actions/workflow-syntax).
 */
import { describe, expect, it } from "vitest";
import { diffBase, matchJob, type MatchResult, type TriggerEvent } from "../../../../controller/gitops/match.js";
import type { Triggers } from "../../../../schemas/types.js";

const ZERO = "0000000000000000000000000000000000000000";
const push = (ref: string, changed?: string[], extra: Partial<Extract<TriggerEvent, { kind: "push" }>> = {}): TriggerEvent => ({ kind: "push", ref, changed, before: "a1", after: "b2", ...extra });
const pr = (action: string, base: string, changed?: string[]): TriggerEvent => ({ kind: "pull_request", action, base, changed });

type Row = [name: string, triggers: Triggers | undefined, event: TriggerEvent, expected: MatchResult];

const PUSH: Row[] = [
  ["no triggers at all", undefined, push("refs/heads/main"), { run: false, reason: "no triggers: runs only when asked" }],
  ["triggers without push", { schedule: ["0 * * * *"] }, push("refs/heads/main"), { run: false, reason: "no push trigger" }],
  ["push: {} runs for any branch", { push: {} }, push("refs/heads/feature/x"), { run: true, reason: "any push: no branch, tag or path filters ('feature/x')" }],
  ["push: {} runs for any tag", { push: {} }, push("refs/tags/v1.0.0"), { run: true, reason: "any tag ('v1.0.0')" }],
  ["a branch that matches", { push: { branches: ["main"] } }, push("refs/heads/main"), { run: true, reason: "branch 'main' matched 'main'" }],
  ["a branch that does not", { push: { branches: ["main", "releases/**"] } }, push("refs/heads/dev"), { run: false, reason: "branch 'dev' matched none of branches ['main', 'releases/**']" }],
  // GitHub's example: releases/10 and releases/beta/mona run, releases/10-alpha and releases/beta/3-alpha do not.
  ["negation after a positive match", { push: { branches: ["releases/**", "!releases/**-alpha"] } }, push("refs/heads/releases/beta/3-alpha"), { run: false, reason: "branch 'releases/beta/3-alpha' excluded by '!releases/**-alpha'" }],
  ["the positive match before a negation", { push: { branches: ["releases/**", "!releases/**-alpha"] } }, push("refs/heads/releases/beta/mona"), { run: true, reason: "branch 'releases/beta/mona' matched 'releases/**'" }],
  ["a positive match after a negation takes back in", { push: { branches: ["releases/**", "!releases/**-alpha", "releases/1-alpha"] } }, push("refs/heads/releases/1-alpha"), { run: true, reason: "branch 'releases/1-alpha' matched 'releases/1-alpha'" }],
  ["branchesIgnore leaves a branch out", { push: { branchesIgnore: ["mona/octocat", "releases/**-alpha"] } }, push("refs/heads/releases/beta/3-alpha"), { run: false, reason: "branch 'releases/beta/3-alpha' ignored by 'releases/**-alpha' in branchesIgnore" }],
  ["branchesIgnore lets the others through", { push: { branchesIgnore: ["mona/octocat"] } }, push("refs/heads/main"), { run: true, reason: "branch 'main' matched none of branchesIgnore ['mona/octocat']" }],
  // "If you define only tags/tags-ignore or only branches/branches-ignore, the workflow won't run for events affecting the undefined Git ref."
  ["only tag filters: a branch push does not run", { push: { tags: ["v*"] } }, push("refs/heads/main"), { run: false, reason: "branch 'main': push has only tag filters, so branch pushes do not run it" }],
  ["only tagsIgnore: a branch push does not run", { push: { tagsIgnore: ["v*"] } }, push("refs/heads/main"), { run: false, reason: "branch 'main': push has only tag filters, so branch pushes do not run it" }],
  ["only branch filters: a tag push does not run", { push: { branches: ["main"] } }, push("refs/tags/v1"), { run: false, reason: "tag 'v1': push has only branch filters, so tag pushes do not run it" }],
  ["a tag that matches", { push: { branches: ["main"], tags: ["v[12].[0-9]+.[0-9]+"] } }, push("refs/tags/v1.10.1"), { run: true, reason: "tag 'v1.10.1' matched 'v[12].[0-9]+.[0-9]+'" }],
  ["a tag that does not", { push: { tags: ["v[12].[0-9]+.[0-9]+"] } }, push("refs/tags/v3.0.0"), { run: false, reason: "tag 'v3.0.0' matched none of tags ['v[12].[0-9]+.[0-9]+']" }],
  ["tagsIgnore", { push: { tagsIgnore: ["*-rc*"] } }, push("refs/tags/v2.0.0-rc1"), { run: false, reason: "tag 'v2.0.0-rc1' ignored by '*-rc*' in tagsIgnore" }],
  ["branches and tags: a branch matched by branches", { push: { branches: ["main"], tags: ["v*"] } }, push("refs/heads/main"), { run: true, reason: "branch 'main' matched 'main'" }],
  // "Path filters are not evaluated for pushes of tags."
  ["paths are not evaluated for a tag push", { push: { tags: ["v*"], paths: ["src/**"] } }, push("refs/tags/v1", ["docs/a.md"]), { run: true, reason: "tag 'v1' matched 'v*'; paths are not evaluated for tag pushes" }],
  // "If you define both branches/branches-ignore and paths/paths-ignore, the workflow will only run when both filters are satisfied."
  ["branches and paths both match", { push: { branches: ["main"], paths: ["src/**"] } }, push("refs/heads/main", ["README.md", "src/a.ts"]), { run: true, reason: "branch 'main' matched 'main'; path 'src/a.ts' matched 'src/**'" }],
  ["branches match, paths do not", { push: { branches: ["main"], paths: ["src/**"] } }, push("refs/heads/main", ["docs/a.md"]), { run: false, reason: "branch 'main' matched 'main'; no changed file matched paths ['src/**']", skippedByPaths: true }],
  ["paths match, branches do not", { push: { branches: ["main"], paths: ["src/**"] } }, push("refs/heads/dev", ["src/a.ts"]), { run: false, reason: "branch 'dev' matched none of branches ['main']" }],
  ["paths alone", { push: { paths: ["src/**"] } }, push("refs/heads/dev", ["src/a.ts"]), { run: true, reason: "any branch ('dev'); path 'src/a.ts' matched 'src/**'" }],
  ["paths with a negation", { push: { paths: ["**", "!docs/**"] } }, push("refs/heads/main", ["docs/a.md"]), { run: false, reason: "no changed file matched paths ['**', '!docs/**']; path 'docs/a.md' excluded by '!docs/**'", skippedByPaths: true }],
  ["pathsIgnore: every file ignored", { push: { pathsIgnore: ["docs/**"] } }, push("refs/heads/main", ["docs/a.md"]), { run: false, reason: "every changed file is ignored by pathsIgnore: 'docs/a.md' by 'docs/**'", skippedByPaths: true }],
  ["pathsIgnore: one file not ignored", { push: { pathsIgnore: ["docs/**"] } }, push("refs/heads/main", ["docs/a.md", "src/b.ts"]), { run: true, reason: "any branch ('main'); path 'src/b.ts' matched none of pathsIgnore ['docs/**']" }],
  // "If there are no files changed, the workflow will not run."
  ["no files changed with a paths filter", { push: { paths: ["**"] } }, push("refs/heads/main", []), { run: false, reason: "no files changed, so the paths filter cannot match", skippedByPaths: true }],
  ["no files changed without a paths filter", { push: { branches: ["main"] } }, push("refs/heads/main", []), { run: true, reason: "branch 'main' matched 'main'" }],
  // GitHub: when it has no diff (over 1,000 commits, a timeout) "the workflow will always run".
  ["changed files not known", { push: { paths: ["src/**"] } }, push("refs/heads/main"), { run: true, reason: "any branch ('main'); changed files not known, so paths ['src/**'] not evaluated (GitHub runs the workflow when it has no diff)" }],
  // A new branch: its files were compared with the default branch.
  ["a new branch with a matching change", { push: { branches: ["feature/**"], paths: ["src/**"] } }, push("refs/heads/feature/x", ["src/a.ts"], { before: ZERO }), { run: true, reason: "branch 'feature/x' matched 'feature/**'; path 'src/a.ts' matched 'src/**' (new branch: changed files compared with the default branch)" }],
  ["a new branch with nothing new", { push: { paths: ["src/**"] } }, push("refs/heads/feature/x", [], { created: true }), { run: false, reason: "no files changed, so the paths filter cannot match (new branch: changed files compared with the default branch)", skippedByPaths: true }],
  ["a new branch without path filters", { push: { branches: ["feature/**"] } }, push("refs/heads/feature/x", [], { before: ZERO }), { run: true, reason: "branch 'feature/x' matched 'feature/**'" }],
  // Deleting a branch or tag never starts a run.
  ["a branch deletion (after all zeros)", { push: { branches: ["**"] } }, push("refs/heads/old", [], { after: ZERO }), { run: false, reason: "branch 'old' was deleted: deletions do not start runs" }],
  ["a branch deletion (deleted: true)", { push: {} }, push("refs/heads/old", undefined, { deleted: true }), { run: false, reason: "branch 'old' was deleted: deletions do not start runs" }],
  ["a tag deletion", { push: { tags: ["**"] } }, push("refs/tags/v1", [], { after: ZERO }), { run: false, reason: "tag 'v1' was deleted: deletions do not start runs" }],
  ["a ref that is neither branch nor tag", { push: {} }, push("refs/notes/commits"), { run: false, reason: "ref 'refs/notes/commits' is neither a branch (refs/heads/) nor a tag (refs/tags/)" }],
];

const PULL_REQUEST: Row[] = [
  ["triggers without pullRequest", { push: {} }, pr("opened", "main"), { run: false, reason: "no pullRequest trigger" }],
  ["pullRequest: {} runs on opened", { pullRequest: {} }, pr("opened", "main"), { run: true, reason: "action 'opened' is in types; any base branch ('main')" }],
  ["pullRequest: {} runs on synchronize", { pullRequest: {} }, pr("synchronize", "dev"), { run: true, reason: "action 'synchronize' is in types; any base branch ('dev')" }],
  ["pullRequest: {} runs on reopened", { pullRequest: {} }, pr("reopened", "dev"), { run: true, reason: "action 'reopened' is in types; any base branch ('dev')" }],
  ["default types leave out closed", { pullRequest: {} }, pr("closed", "main"), { run: false, reason: "action 'closed' is not in types [opened, synchronize, reopened] (the default)" }],
  ["types given", { pullRequest: { types: ["closed"] } }, pr("closed", "main"), { run: true, reason: "action 'closed' is in types; any base branch ('main')" }],
  ["types given leave out the defaults", { pullRequest: { types: ["labeled"] } }, pr("opened", "main"), { run: false, reason: "action 'opened' is not in types [labeled]" }],
  // GitHub's example for pull_request branches: main, mona/octocat, releases/**.
  ["base branch matches", { pullRequest: { branches: ["main", "mona/octocat", "releases/**"] } }, pr("opened", "releases/10"), { run: true, reason: "action 'opened' is in types; base branch 'releases/10' matched 'releases/**'" }],
  ["base branch as a full ref", { pullRequest: { branches: ["main"] } }, pr("opened", "refs/heads/main"), { run: true, reason: "action 'opened' is in types; base branch 'main' matched 'main'" }],
  ["base branch does not match", { pullRequest: { branches: ["main"] } }, pr("opened", "dev"), { run: false, reason: "base branch 'dev' matched none of branches ['main']" }],
  ["base branch negated", { pullRequest: { branches: ["releases/**", "!releases/**-alpha"] } }, pr("opened", "releases/10-alpha"), { run: false, reason: "base branch 'releases/10-alpha' excluded by '!releases/**-alpha'" }],
  ["base branch ignored", { pullRequest: { branchesIgnore: ["mona/octocat", "releases/**-alpha"] } }, pr("synchronize", "mona/octocat"), { run: false, reason: "base branch 'mona/octocat' ignored by 'mona/octocat' in branchesIgnore" }],
  ["paths match", { pullRequest: { branches: ["main"], paths: ["**.js"] } }, pr("opened", "main", ["src/app.js"]), { run: true, reason: "action 'opened' is in types; base branch 'main' matched 'main'; path 'src/app.js' matched '**.js'" }],
  ["paths do not match", { pullRequest: { branches: ["main"], paths: ["**.js"] } }, pr("opened", "main", ["README.md"]), { run: false, reason: "base branch 'main' matched 'main'; no changed file matched paths ['**.js']", skippedByPaths: true }],
  ["pathsIgnore", { pullRequest: { pathsIgnore: ["docs/**"] } }, pr("opened", "main", ["docs/a.md"]), { run: false, reason: "every changed file is ignored by pathsIgnore: 'docs/a.md' by 'docs/**'", skippedByPaths: true }],
  ["a type mismatch is not a paths skip", { pullRequest: { paths: ["src/**"] } }, pr("closed", "main", ["docs/a.md"]), { run: false, reason: "action 'closed' is not in types [opened, synchronize, reopened] (the default)" }],
];

const OTHERS: Row[] = [
  ["schedule: any entry", { schedule: ["*/15 * * * *", { cron: "0 3 * * *", timezone: "Europe/Madrid" }] }, { kind: "schedule" }, { run: true, reason: "on its schedule: '*/15 * * * *' (UTC), '0 3 * * *' (Europe/Madrid)" }],
  ["schedule: the entry that fired", { schedule: ["*/15 * * * *", { cron: "0 3 * * *", timezone: "Europe/Madrid" }] }, { kind: "schedule", cron: "0  3 * * *" }, { run: true, reason: "schedule '0 3 * * *' (Europe/Madrid)" }],
  ["schedule: not one of its entries", { schedule: ["*/15 * * * *"] }, { kind: "schedule", cron: "0 4 * * *" }, { run: false, reason: "schedule '0 4 * * *' is not one of its entries: '*/15 * * * *' (UTC)" }],
  ["schedule: none", { push: {} }, { kind: "schedule" }, { run: false, reason: "no schedule" }],
  ["schedule: no triggers", undefined, { kind: "schedule" }, { run: false, reason: "no schedule" }],
  ["manual by default", undefined, { kind: "manual" }, { run: true, reason: "manual runs are allowed (manual is true by default)" }],
  ["manual: true", { manual: true }, { kind: "manual" }, { run: true, reason: "manual: true" }],
  ["manual: false", { manual: false, push: {} }, { kind: "manual" }, { run: false, reason: "manual: false (runs only from its push, pull request or schedule triggers)" }],
];

describe.each([
  ["push", PUSH],
  ["pull_request", PULL_REQUEST],
  ["schedule and manual", OTHERS],
] as const)("matchJob: %s", (_kind, rows) => {
  it.each(rows)("%s", (_name, triggers, event, expected) => {
    expect(matchJob(triggers, event)).toEqual(expected);
  });
});

describe("diffBase: what a push's changed files are compared with", () => {
  it.each([
    ["an existing branch: the commit before", { before: "a1", after: "b2" }, "a1"],
    ["a new branch (before all zeros): the default branch", { before: ZERO, after: "b2" }, "refs/heads/main"],
    ["a new branch (created): the default branch", { before: "a1", after: "b2", created: true }, "refs/heads/main"],
    ["no before given: the default branch", { after: "b2" }, "refs/heads/main"],
    ["a deletion: nothing", { before: "a1", after: ZERO }, undefined],
    ["a deletion (deleted): nothing", { before: "a1", deleted: true }, undefined],
  ] as const)("%s", (_name, e, expected) => {
    expect(diffBase(e, "main")).toBe(expected);
  });
});
