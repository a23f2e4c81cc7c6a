/**
 * Repo-triggered runs check out their commit: a controller on PostgreSQL and
 * two agents, all separate processes; a repo registered with `hodei repos
 * add file://…`, a commit pushed to it and `hodei repos sync` → the job runs
 * in a checkout of that commit with HODEI_* set, and `runs get --json` says
 * where the run came from. An agent that cannot reach the repository fails
 * its run with reason `checkout` and git's error in `hodei logs`.
 */
import { execFileSync } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestDatabase } from "../helpers/db.js";
import { eventually, hodei, hodeiJson, startAgent, startController, tempDir, type ControllerProc, type Proc } from "../helpers/procs.js";

let db: Awaited<ReturnType<typeof createTestDatabase>>;
let controller: ControllerProc;
let good: Proc;
let broken: Proc;
const dir = tempDir("hodei-checkout-e2e-");
const src = join(dir, "src");
const env = (): NodeJS.ProcessEnv => ({ HODEI_CONTROLLER: controller.address });
const git = (...args: string[]): string =>
  execFileSync("git", args, { cwd: src, encoding: "utf8", env: { ...process.env, GIT_AUTHOR_NAME: "t", GIT_AUTHOR_EMAIL: "t@t", GIT_COMMITTER_NAME: "t", GIT_COMMITTER_EMAIL: "t@t" } }).trim();

const JOBS = `apiVersion: hodei.dev/v1
kind: Job
metadata: { name: show }
spec:
  selector: { pool: good }
  triggers: { push: { branches: [main] } }
  workdir: sub
  run: |
    echo "head=$(git rev-parse HEAD)"
    echo "file=$(cat some-file)"
    env | grep ^HODEI_ | sort
---
apiVersion: hodei.dev/v1
kind: Job
metadata: { name: unreachable }
spec:
  selector: { pool: broken }
  triggers: { push: { branches: [main] } }
  run: echo this never runs
`;

interface RunJson {
  id: string;
  job: string;
  state: string;
  reason: string | null;
  message: string | null;
  trigger: { event: string; repo: string; ref: string; commit: string; before: string; via: string; fork: boolean } | null;
}

beforeAll(async () => {
  db = await createTestDatabase();
  // The controller's mirrors go under this test's temp dir (XDG_CACHE_HOME), not the user's cache; simple-git
  // refuses to run with EDITOR set (the test runner may set it), and the controller passes its env to git.
  process.env.XDG_CACHE_HOME = join(dir, "cache");
  delete process.env.EDITOR;
  delete process.env.VISUAL;
  controller = await startController({ databaseUrl: db.url });
  good = await startAgent(controller, { name: "checkout-good", labels: "pool=good" });
  // This agent's git sends every fetch of the repo's URL somewhere that does not exist: the repo is unreachable from it.
  const gitconfig = join(dir, "broken.gitconfig");
  writeFileSync(gitconfig, `[url "file://${dir}/gone/"]\n\tinsteadOf = file://${dir}/src\n`);
  process.env.GIT_CONFIG_GLOBAL = gitconfig;
  try {
    broken = await startAgent(controller, { name: "checkout-broken", labels: "pool=broken" });
  } finally {
    delete process.env.GIT_CONFIG_GLOBAL;
  }
  mkdirSync(join(src, ".hodei"), { recursive: true });
  mkdirSync(join(src, "sub"), { recursive: true });
  git("init", "-q", "-b", "main");
  writeFileSync(join(src, ".hodei", "jobs.yaml"), JOBS);
  writeFileSync(join(src, "sub", "some-file"), "first\n");
  git("add", ".");
  git("commit", "-qm", "first");
  const added = await hodei(["repos", "add", `file://${src}`, "--name", "e2e", "--poll-interval", "0"], { env: env() });
  expect(added.code, added.stderr).toBe(0);
});

afterAll(async () => {
  await good?.stop();
  await broken?.stop();
  await controller?.stop();
  await db?.drop();
});

const runsOf = async (job: string): Promise<RunJson[]> => (await hodeiJson<{ runs: RunJson[] }>(["runs", "ls", "--job", job], { env: env() })).runs;
const ended = (job: string) => eventually(async () => (await runsOf(job)).find((r) => ["succeeded", "failed", "timed_out", "cancelled"].includes(r.state)), `a finished run of ${job}`, 60_000);

describe("a push runs its jobs in a checkout of the pushed commit", () => {
  let pushed: string;

  beforeAll(async () => {
    writeFileSync(join(src, "sub", "some-file"), "second\n");
    git("commit", "-qam", "second");
    pushed = git("rev-parse", "HEAD");
    const sync = await hodei(["repos", "sync", "e2e"], { env: env() });
    expect(sync.code, sync.stderr).toBe(0);
  });

  it("the job sees the commit's files, HEAD is the commit, HODEI_* are set; runs get --json has the trigger", async () => {
    const run = await ended("show");
    const logs = await hodei(["logs", run.id], { env: env() });
    const out = logs.stdout.toString();
    expect(run.state, out + logs.stderr).toBe("succeeded");
    expect(out).toContain(`head=${pushed}\n`);
    expect(out).toContain("file=second\n");
    expect(out).toContain(`HODEI_COMMIT=${pushed}\n`);
    expect(out).toContain("HODEI_REF=refs/heads/main\n");
    expect(out).toContain("HODEI_REPO=e2e\n");
    expect(out).toContain("HODEI_EVENT=push\n");
    expect(out).toContain(`HODEI_RUN_ID=${run.id}\n`);
    const got = await hodeiJson<RunJson>(["runs", "get", run.id], { env: env() });
    expect(got.trigger).toMatchObject({ event: "push", repo: "e2e", ref: "refs/heads/main", commit: pushed, via: "poll", fork: false });
    const text = await hodei(["runs", "get", run.id], { env: env() });
    expect(text.stdout.toString()).toMatch(new RegExp(`^commit +${pushed}$`, "m"));
    const ls = await hodei(["runs", "ls", "--job", "show"], { env: env() });
    expect(ls.stdout.toString()).toContain(`push main@${pushed.slice(0, 7)}`);
  });

  it("an agent that cannot reach the repository fails the run with reason checkout and git's error in its log", async () => {
    const run = await ended("unreachable");
    expect(run).toMatchObject({ state: "failed", reason: "checkout" });
    expect(run.trigger?.commit).toBe(pushed);
    const logs = await hodei(["logs", run.id], { env: env() });
    const all = logs.stdout.toString() + logs.stderr;
    expect(all).toContain("checkout failed");
    expect(all).toContain(`git fetch of commit ${pushed}`);
    expect(all).toMatch(/does not appear to be a git repository/);
    expect(all).not.toContain("this never runs");
  });
});
