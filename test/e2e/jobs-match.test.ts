/**
 * `hodei jobs match` as a user runs it before pushing: the built CLI
 * (bin/run.js → dist/, so `npm run build` first) on the fixture repositories
 * under test/fixtures/repos, offline. HODEI_CONTROLLER points nowhere and
 * HODEI_DATA_DIR at an empty folder, so a command that tried to reach a
 * controller, or to start the embedded one, would fail or leave files there.
 */
import { cpSync, existsSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { hodei, ROOT, tempDir } from "../helpers/procs.js";

const REPO = "test/fixtures/repos/triggers";
const BROKEN = "test/fixtures/repos/triggers-broken";
const dataDir = tempDir("hodei-match-data-");
const env = { HODEI_CONTROLLER: "127.0.0.1:1", HODEI_DATA_DIR: dataDir };
const match = (args: string[]) => hodei(["jobs", "match", ...args], { env });

/** The table as rows of [job, run, reason]. */
const rows = (stdout: Buffer): string[][] =>
  stdout
    .toString()
    .trimEnd()
    .split("\n")
    .slice(1)
    .map((l) => {
      const [, job, run, reason] = /^(\S+)\s+(yes|no)\s+(.*)$/.exec(l) ?? [];
      return [job!, run!, reason!];
    });


interface MatchJson {
  event: Record<string, unknown>;
  jobs: { name: string; file: string; line: number; run: boolean; reason: string; skippedByPaths?: boolean; reportSkipped?: boolean }[];
  errors: { file: string; line: number; col: number; pointer: string; message: string }[];
}

describe("hodei jobs match", () => {
  beforeAll(() => {
    if (!existsSync(join(ROOT, "dist/cli/commands/jobs/match.js"))) throw new Error("dist/ is not built: run `npm run build` first");
  });

  it("prints, for a push to main, every job with yes/no and the pattern that decided, and exits 0", async () => {
    const r = await match([REPO, "--event", "push", "--ref", "main", "--changed", "src/app.ts,README.md"]);
    expect(r.code).toBe(0);
    expect(r.stderr).toBe("");
    expect(r.stdout.toString().split("\n")[0]).toMatch(/^JOB\s+RUN\s+REASON$/);
    expect(rows(r.stdout)).toEqual([
      ["build", "yes", "branch 'main' matched 'main'; path 'src/app.ts' matched 'src/**'"],
      ["docs", "yes", "branch 'main' matched none of branchesIgnore ['dependabot/**']; path 'README.md' matched '**.md'"],
      ["release", "no", "branch 'main': push has only tag filters, so branch pushes do not run it"],
      ["nightly", "no", "no push trigger"],
      ["adhoc", "no", "no triggers: runs only when asked"],
    ]);
    // Nothing was started or written for a controller.
    expect(readdirSync(dataDir)).toEqual([]);
  });

  it("names the negative pattern that excluded a branch, and says when only the paths filter skipped a job", async () => {
    const alpha = await match([REPO, "--event", "push", "--ref", "refs/heads/releases/2-alpha", "--changed", "src/app.ts"]);
    expect(rows(alpha.stdout)[0]).toEqual(["build", "no", "branch 'releases/2-alpha' excluded by '!releases/**-alpha'"]);
    const changelog = await match([REPO, "--event", "push", "--ref", "main", "--changed", "CHANGELOG.md"]);
    expect(rows(changelog.stdout).slice(0, 2)).toEqual([
      ["build", "no", "branch 'main' matched 'main'; no changed file matched paths ['src/**', 'package.json'] (skipped by its paths filter, reported as skipped)"],
      [
        "docs",
        "no",
        "branch 'main' matched none of branchesIgnore ['dependabot/**']; no changed file matched paths ['docs/**', '**.md', '!CHANGELOG.md']; path 'CHANGELOG.md' excluded by '!CHANGELOG.md' (skipped by its paths filter)",
      ],
    ]);
    expect(changelog.code).toBe(0);
  });

  it("matches tags (paths not evaluated), pull requests by base branch and type, schedules and manual runs", async () => {
    const tag = await match([REPO, "--event", "push", "--ref", "refs/tags/v1.2.0", "--changed", "docs/x.md"]);
    expect(rows(tag.stdout).map(([job, run]) => `${job} ${run}`)).toEqual(["build no", "docs no", "release yes", "nightly no", "adhoc no"]);
    expect(rows(tag.stdout)[2]).toEqual(["release", "yes", "tag 'v1.2.0' matched 'v[0-9]+.[0-9]+.[0-9]+'"]);

    const opened = await match([REPO, "--event", "pull_request", "--base", "main", "--ref", "feature/x", "--changed", "src/a.ts"]);
    expect(rows(opened.stdout).slice(0, 2)).toEqual([
      ["build", "yes", "action 'opened' is in types; base branch 'main' matched 'main'; path 'src/a.ts' matched 'src/**'"],
      ["docs", "no", "every changed file is ignored by pathsIgnore: 'src/a.ts' by 'src/**' (skipped by its paths filter)"],
    ]);
    const closed = await match([REPO, "--event", "pull_request", "--base", "main", "--type", "closed"]);
    expect(rows(closed.stdout)[0]).toEqual(["build", "no", "action 'closed' is not in types [opened, synchronize, reopened] (the default)"]);

    const schedule = await match([REPO, "--event", "schedule"]);
    expect(rows(schedule.stdout)[3]).toEqual(["nightly", "yes", "on its schedule: '0 3 * * *' (UTC), '0 6 * * 1' (Europe/Madrid)"]);

    const manual = await match([REPO, "--event", "manual"]);
    expect([manual.code, manual.stderr]).toEqual([0, ""]);
    expect(rows(manual.stdout)[2]).toEqual(["release", "no", "manual: false (runs only from its push, pull request or schedule triggers)"]);
  });

  it("answers --json with the event, every job and no errors", async () => {
    const r = await match([REPO, "--event", "push", "--ref", "main", "--changed", "CHANGELOG.md", "--json"]);
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout.toString()) as MatchJson;
    expect(out.event).toEqual({ kind: "push", ref: "refs/heads/main", changed: ["CHANGELOG.md"] });
    expect(out.errors).toEqual([]);
    expect(out.jobs[0]).toEqual({
      name: "build",
      file: `${REPO}/.hodei/jobs/build.yaml`,
      line: 2,
      run: false,
      reason: "branch 'main' matched 'main'; no changed file matched paths ['src/**', 'package.json']",
      skippedByPaths: true,
      reportSkipped: true,
    });
  });

  it("reads the current folder by default", async () => {
    const r = await hodei(["jobs", "match", "--event", "push", "--ref", "refs/tags/v2.0.0"], { env, cwd: join(ROOT, REPO) });
    expect(r.code).toBe(0);
    expect(rows(r.stdout)[2]).toEqual(["release", "yes", "tag 'v2.0.0' matched 'v[0-9]+.[0-9]+.[0-9]+'"]);
  });

  it("prints invalid definitions as FILE:LINE:COL errors, still matches the valid job, and exits 1", async () => {
    const r = await match([BROKEN, "--event", "push", "--ref", "main"]);
    expect(r.code).toBe(1);
    const file = `${BROKEN}/.hodei/jobs.yaml`;
    expect(r.stderr).toBe(
      [
        `${file}:8:30: invalid pattern "v[1-]": invalid range "1-": a range needs an end (at /spec/triggers/push/branches/1)`,
        `${file}:26:7: \`branches\` and \`branchesIgnore\` cannot both be used for push (as in GitHub Actions): keep \`branches\` and exclude with a leading "!" pattern (at /spec/triggers/push/branchesIgnore)`,
        "",
      ].join("\n"),
    );
    expect(rows(r.stdout)).toEqual([["good", "yes", "branch 'main' matched 'main'"]]);

    const json = await match([BROKEN, "--event", "push", "--ref", "main", "--json"]);
    expect(json.code).toBe(1);
    const out = JSON.parse(json.stdout.toString()) as MatchJson;
    expect(out.jobs.map((j) => j.name)).toEqual(["good"]);
    expect(out.errors.map((e) => [e.line, e.col, e.pointer])).toEqual([
      [8, 30, "/spec/triggers/push/branches/1"],
      [26, 7, "/spec/triggers/push/branchesIgnore"],
    ]);
  });

  it("exits 1 when there is nothing to match", async () => {
    const empty = tempDir("hodei-match-empty-");
    const none = await match([empty, "--event", "manual"]);
    expect([none.code, none.stdout.toString()]).toEqual([1, ""]);
    expect(none.stderr).toContain(`${empty}: no .yaml or .yml files found`);
    const missing = await match([join(empty, "nope"), "--event", "manual"]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain("no such file or directory");
    // Definitions without a Job have nothing to match either.
    cpSync(join(ROOT, "test/fixtures/specs/valid/policy.yaml"), join(empty, "policy.yaml"));
    writeFileSync(join(empty, "notes.txt"), "not yaml");
    const noJobs = await match([empty, "--event", "manual"]);
    expect([noJobs.code, noJobs.stderr]).toEqual([1, `${empty}: no jobs found\n`]);
  });

  it.each([
    [["--event", "pull", "--ref", "main"], "Expected --event=pull to be one of: push, pull_request, schedule, manual"],
    [["--ref", "main"], "Missing required flag event"],
    [["--event", "push"], "--event push needs --ref: the pushed branch (main, refs/heads/main) or tag (refs/tags/v1.0.0)"],
    [["--event", "push", "--ref", ""], "--event push needs --ref"],
    [["--event", "pull_request"], "--event pull_request needs --base: the branch the pull request targets (e.g. --base main)"],
    [["--event", "pull_request", "--base", "main", "--type", "merged"], "Expected --type=merged to be one of:"],
    [["--event", "push", "--ref", "main", "--base", "main"], "--base only applies to --event pull_request"],
    [["--event", "push", "--ref", "main", "--type", "closed"], "--type only applies to --event pull_request"],
    [["--event", "schedule", "--ref", "main"], "--ref does not apply to --event schedule"],
    [["--event", "manual", "--changed", "a"], "--changed does not apply to --event manual"],
    [["--repo", "web", "--event", "push", "--ref", "main"], "give a PATH or --repo NAME, not both"],
  ])("refuses %j as a usage error (exit 2)", async (args, message) => {
    const r = await match([REPO, ...args]);
    expect(r.code).toBe(2);
    expect(r.stdout.toString()).toBe("");
    expect(r.stderr.replace(/\s*›\s*/g, " ")).toContain(message);
  });
});
