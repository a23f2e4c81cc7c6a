/**
 * `hodei repos` and `hodei jobs` through the built CLI, against a controller
 * on PostgreSQL with one agent, over real git repositories in temp dirs:
 * registering, listing, syncing, running a repo's job by name, polling, and
 * every kind of bad input (with the exit code each deserves). Credentials
 * never come back out.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { createTestDatabase } from "../helpers/db.js";
import { eventually, hodei, hodeiJson, startAgent, startController, tempDir, type ControllerProc, type Proc } from "../helpers/procs.js";
import { createRepo, jobYaml, type TestRepo } from "../helpers/git.js";

let db: Awaited<ReturnType<typeof createTestDatabase>>;
let controller: ControllerProc;
let agent: Proc;
let repo: TestRepo;
const env = (): NodeJS.ProcessEnv => ({ HODEI_CONTROLLER: controller.address });
const dir = tempDir("hodei-repos-");
const SECRET = "whsec-e2e-0123456789";
const TOKEN = "ghp_e2e_token_abcdefghij";
const secretFile = join(dir, "secret");
const tokenFile = join(dir, "token");

type RepoJson = { name: string; url: string; headCommit: string | null; jobs: number; errors: string[]; webhookSecret: boolean; token: boolean; lastSync: { ok: boolean; via: string } | null; recentSyncs: unknown[] };

beforeAll(async () => {
  writeFileSync(secretFile, `${SECRET}\n`);
  writeFileSync(tokenFile, `${TOKEN}\n`);
  repo = createRepo();
  repo.commit({
    ".hodei/hello.yaml": jobYaml("hello", 'run: echo "hello from $HODEI_RUN_ID"'),
    ".hodei/on-push.yaml": jobYaml("on-push", "run: echo pushed\ntriggers: { push: { branches: [main] } }"),
    ".hodei/broken.yaml": jobYaml("broken", "run: [not, a, string]"),
    ".hodei/no-manual.yaml": jobYaml("no-manual", "run: echo x\ntriggers: { manual: false, push: {} }"),
  });
  db = await createTestDatabase();
  controller = await startController({ databaseUrl: db.url }, ["--mirrors-dir", join(dir, "mirrors")]);
  agent = await startAgent(controller, { name: "repos-agent", slots: 2 });
});

afterAll(async () => {
  await agent?.stop();
  await controller?.stop();
  await db?.drop();
});

// Each step is a CLI process (about a second each on a quiet machine): generous bounds for a busy one.
describe("hodei repos", { timeout: 240_000 }, () => {
  it("add syncs at once and reports jobs and errors; ls, get and jobs ls show them; credentials are never printed", async () => {
    const add = await hodei(["repos", "add", repo.dir, "--name", "demo", "--webhook-secret-file", secretFile, "--token-file", tokenFile, "--poll-interval", "0"], { env: env() });
    expect(add.stderr).toBe("");
    expect(add.code).toBe(0);
    expect(add.stdout.toString()).toMatch(/^added repository demo \(.*\); main at [0-9a-f]{12}: 3 jobs, 1 error\n {2}\.hodei\/broken\.yaml:5:8: /);

    const got = await hodeiJson<RepoJson>(["repos", "get", "demo"], { env: env() });
    expect(got).toMatchObject({ name: "demo", headCommit: repo.head(), jobs: 3, webhookSecret: true, token: true, lastSync: { ok: true, via: "add" } });
    expect(got.errors).toEqual([expect.stringMatching(/^\.hodei\/broken\.yaml:5:8: expected a string/)]);
    const ls = await hodeiJson<{ repos: RepoJson[] }>(["repos", "ls"], { env: env() });
    expect(ls.repos.map((r) => r.name)).toEqual(["demo"]);

    const jobs = await hodei(["jobs", "ls"], { env: env() });
    expect(jobs.code).toBe(0);
    expect(jobs.stdout.toString()).toMatch(/demo +hello +manual/);
    expect(jobs.stdout.toString()).toMatch(/demo +on-push +push\(main\) manual/);
    expect(jobs.stdout.toString()).toContain("demo: .hodei/broken.yaml:5:8:");
    const job = await hodeiJson<{ file: string; commit: string; definition: { spec: { run: string } } }>(["jobs", "get", "demo/hello"], { env: env() });
    expect(job).toMatchObject({ file: ".hodei/hello.yaml", commit: repo.head(), definition: { spec: { run: 'echo "hello from $HODEI_RUN_ID"' } } });

    // Neither the secret nor the token in any output, human or JSON, nor in the controller's log.
    const outputs = await Promise.all([["repos", "get", "demo"], ["repos", "ls"], ["repos", "get", "demo", "--json"], ["repos", "ls", "--json"], ["jobs", "ls", "--json"]].map((args) => hodei(args, { env: env() })));
    for (const r of outputs) {
      for (const text of [r.stdout.toString(), r.stderr]) {
        expect(text).not.toContain(SECRET);
        expect(text).not.toContain(TOKEN);
      }
    }
    const log = readFileSync(controller.logFile, "utf8");
    expect(log).not.toContain(SECRET);
    expect(log).not.toContain(TOKEN);
  });

  it("hodei jobs match --repo matches the definitions the controller has at the repository's head", async () => {
    const r = await hodeiJson<{ jobs: { name: string; run: boolean; reason: string }[]; errors: { message: string }[] }>(["jobs", "match", "--repo", "demo", "--event", "push", "--ref", "main"], { env: env() });
    expect(r.jobs.find((j) => j.name === "on-push")).toMatchObject({ run: true, reason: "branch 'main' matched 'main'" });
    expect(r.jobs.find((j) => j.name === "hello")).toMatchObject({ run: false });
    expect(r.errors.map((e) => e.message)).toEqual([expect.stringMatching(/^\.hodei\/broken\.yaml:5:8: /)]);
  });

  it("hodei run JOB --repo runs the repository's job by name at the branch head and follows it; a later commit is picked up", async () => {
    const r = await hodei(["run", "hello", "--repo", "demo"], { env: env() });
    expect(r.code).toBe(0);
    expect(r.stdout.toString()).toMatch(/^hello from \d+\n$/);
    const c2 = repo.commit({ ".hodei/hello.yaml": jobYaml("hello", "run: echo second version") }, "second");
    const r2 = await hodei(["run", "hello", "--repo", "demo", "-e", "X=1"], { env: env() });
    expect(r2.stdout.toString()).toBe("second version\n");
    const runs = await hodeiJson<{ runs: { job: string; source: string }[] }>(["runs", "ls", "--job", "hello"], { env: env() });
    expect(runs.runs[0]!.source).toBe(`demo@${c2.slice(0, 12)}:.hodei/hello.yaml`);
    // An older commit by sha: its own definition.
    const first = runs.runs[1]!.source.split("@")[1]!.split(":")[0]!;
    expect(first).not.toBe(c2.slice(0, 12));
  });

  it("refuses what cannot run by name, each with its own exit code", async () => {
    const noJob = await hodei(["run", "nosuch", "--repo", "demo"], { env: env() });
    expect(noJob.code).toBe(4);
    expect(noJob.stderr).toMatch(/repository demo defines no job nosuch at main \([0-9a-f]{12}\); its definitions have errors:\n\.hodei\/broken\.yaml:5:8/);
    const noRef = await hodei(["run", "hello", "--repo", "demo", "--ref", "no-such-branch"], { env: env() });
    expect(noRef.code).toBe(4);
    expect(noRef.stderr).toContain("branch, tag or commit no-such-branch in repository demo not found");
    const noRepo = await hodei(["run", "hello", "--repo", "nope"], { env: env() });
    expect(noRepo.code).toBe(4);
    const manualOff = await hodei(["run", "no-manual", "--repo", "demo"], { env: env() });
    expect(manualOff.code).toBe(5);
    expect(manualOff.stderr).toContain("has triggers.manual: false");
    const file = await hodei(["run", "job.yaml", "--repo", "demo"], { env: env() });
    expect(file.code).toBe(2);
    const refAlone = await hodei(["run", "x.yaml", "--ref", "main"], { env: env() });
    expect(refAlone.code).toBe(2);
    const badEnv = await hodei(["run", "hello", "--repo", "demo", "-e", "1X=2"], { env: env() });
    expect(badEnv.code).toBe(2);
  });

  it("bad input to repos add is refused with a clear message and registers nothing", async () => {
    const cases: [string[], number, RegExp][] = [
      [["repos", "add", "ftp://example.com/x.git"], 2, /unsupported URL scheme "ftp:"/],
      [["repos", "add", "ext::sh -c touch% /tmp/pwned"], 2, /remote helper|spaces/],
      [["repos", "add", "--", "-uhello"], 2, /may not start with '-'/],
      [["repos", "add", `https://example.com/${"a".repeat(3000)}`], 2, /the limit is 2000/],
      [["repos", "add", "https://example.com/x\ny"], 2, /spaces or control characters/],
      [["repos", "add", repo.dir, "--name", "Bad Name"], 2, /repository name "Bad Name" must be lower case/],
      [["repos", "add", repo.dir, "--name", "p", "--path", "../outside"], 2, /must be a folder inside the repository/],
      [["repos", "add", repo.dir, "--name", "b", "--branch", "a..b"], 2, /not a valid branch name/],
      [["repos", "add", repo.dir, "--name", "t", "--token-file", join(dir, "missing")], 2, /cannot read the token file .*ENOENT/],
      [["repos", "add", repo.dir, "--name", "w", "--webhook-secret", "x", "--webhook-secret-file", secretFile], 2, /cannot also be provided/],
      [["repos", "add", repo.dir, "--name", "q", "--poll-interval", "1s"], 2, /poll interval must be at least 5s/],
      [["repos", "add", repo.dir, "--name", "demo"], 1, /a repository named demo already exists/],
      [["repos", "get", "nosuch"], 4, /repository nosuch not found/],
      [["repos", "sync", "nosuch"], 4, /repository nosuch not found/],
      [["repos", "rm", "nosuch"], 4, /repository nosuch not found/],
      [["jobs", "get", "no-slash"], 2, /expected REPO\/JOB/],
      [["jobs", "get", "demo/nosuch"], 4, /repository demo defines no job nosuch/],
    ];
    // Four at a time: each is a CLI process of its own.
    for (let i = 0; i < cases.length; i += 4) {
      await Promise.all(
        cases.slice(i, i + 4).map(async ([args, code, message]) => {
          const r = await hodei(args, { env: env() });
          expect({ args, code: r.code, message: r.stderr }).toEqual({ args, code, message: expect.stringMatching(message) });
        }),
      );
    }
    const ls = await hodeiJson<{ repos: RepoJson[] }>(["repos", "ls"], { env: env() });
    expect(ls.repos.map((r) => r.name)).toEqual(["demo"]);
  });

  it("a repository whose first sync fails is registered, says so (exit 125), and records the error for repos get", async () => {
    const r = await hodei(["repos", "add", join(dir, "not-a-repo"), "--name", "gone", "--poll-interval", "0"], { env: env() });
    expect(r.code).toBe(125);
    expect(r.stderr).toContain("repository gone was added, but its first sync failed");
    const got = await hodeiJson<RepoJson & { lastSync: { ok: boolean; error: string } }>(["repos", "get", "gone"], { env: env() });
    expect(got.lastSync).toMatchObject({ ok: false, error: expect.stringContaining("git fetch") });
    const sync = await hodei(["repos", "sync", "gone"], { env: env() });
    expect(sync.code).toBe(125);
    expect(sync.stderr).toContain("sync of gone failed");
    expect((await hodei(["repos", "rm", "gone"], { env: env() })).stdout.toString()).toBe("removed repository gone\n");
  });

  it("polling finds a push and starts the jobs it triggers, once, at the pushed commit", async () => {
    const polled = createRepo();
    polled.commit({ ".hodei/p.yaml": jobYaml("polled", "run: echo polled\ntriggers: { push: { branches: [main] } }") });
    expect((await hodei(["repos", "add", polled.dir, "--name", "polled", "--poll-interval", "5s"], { env: env() })).code).toBe(0);
    const c2 = polled.commit({ "src/a.txt": "1" }, "push me");
    const run = await eventually(async () => {
      const r = await hodeiJson<{ runs: { id: string; source: string; state: string }[] }>(["runs", "ls", "--job", "polled"], { env: env() });
      return r.runs.find((x) => x.state === "succeeded");
    }, "the polled push's run to succeed", 60_000);
    expect(run.source).toBe(`polled@${c2.slice(0, 12)}:.hodei/p.yaml`);
    // Another poll of the same commit starts nothing more.
    await hodei(["repos", "sync", "polled"], { env: env() });
    expect((await hodeiJson<{ runs: unknown[] }>(["runs", "ls", "--job", "polled"], { env: env() })).runs).toHaveLength(1);
    expect((await hodei(["repos", "rm", "polled"], { env: env() })).code).toBe(0);
    // Its runs outlive it.
    expect((await hodeiJson<{ runs: unknown[] }>(["runs", "ls", "--job", "polled"], { env: env() })).runs).toHaveLength(1);
  });
});
