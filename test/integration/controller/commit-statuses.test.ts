/**
 * Commit statuses back to GitHub (controller/gitops/status.ts) with a real
 * store, the real bus and the real @octokit/rest, against a local HTTP server
 * that speaks GitHub's request and response shapes (test/helpers/fake-github.ts).
 * A fake because GitHub's API cannot be reached from the machines these tests
 * run on. Backoffs are a few milliseconds; nothing here asserts a duration.
 */
import { tmpdir } from "node:os";
import type { ServerUnaryCall } from "@grpc/grpc-js";
import { pino } from "pino";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import type { GetRepoRequest, Repo } from "../../../proto/gen/hodei/v1/gitops.js";
import { gitopsService } from "../../../controller/api/gitops.js";
import { StatusReporter, type StatusReporterOptions } from "../../../controller/gitops/status.js";
import { startController, type Controller } from "../../../controller/server.js";
import { Syncer } from "../../../controller/gitops/sync.js";
import type { Push, PushOutcome } from "../../../controller/gitops/pushes.js";
import { finishAttempt } from "../../../controller/store/attempts.js";
import { openStore, type Store } from "../../../controller/store/db.js";
import { insertRepo } from "../../../controller/store/repos.js";
import { claimStatus, getStatus } from "../../../controller/store/statuses.js";
import { claimRuns, insertRun, markStarted } from "../../../controller/store/runs.js";
import type { RepoRow, RunRow } from "../../../controller/store/schema.js";
import { DIALECTS, createTestDatabase, createTestStore, type TestStore } from "../../helpers/db.js";
import { startFakeGitHub, type FakeGitHub } from "../../helpers/fake-github.js";

const log = pino({ level: "silent" });
const TOKEN = "ghp_0123456789abcdefghijklmnopqrstuvwxyzAB";
let made = 0;
const sha = (): string => (++made).toString(16).padStart(40, "c");

describe.each(DIALECTS)("commit statuses (%s)", (dialect) => {
  let store: TestStore;
  let gh: FakeGitHub;
  const reporters: StatusReporter[] = [];

  beforeAll(async () => {
    store = await createTestStore(dialect);
    gh = await startFakeGitHub();
  });
  afterEach(async () => {
    await Promise.all(reporters.splice(0).map((r) => r.stop()));
    gh.failAlways(undefined);
    gh.requests.length = 0;
  });
  afterAll(async () => {
    await gh?.close();
    await store?.dispose();
  });

  function reporter(over: Partial<StatusReporterOptions> = {}, s: Store = store): StatusReporter {
    const r = new StatusReporter({ store: s, log, apiUrl: gh.url, attempts: 3, minBackoffMs: 2, maxBackoffMs: 10, sweepIntervalMs: 0, ...over });
    reporters.push(r);
    r.start();
    return r;
  }

  /** A repo on the fake GitHub's host (its API host serves the repositories, as GitHub Enterprise does). */
  async function repo(over: { url?: string; token?: string | null } = {}): Promise<RepoRow> {
    const name = `widgets-${++made}`;
    const row = await insertRepo(store.db, {
      name,
      url: over.url ?? `https://127.0.0.1/acme/${name}.git`,
      branch: "main",
      path: ".hodei",
      platform: false,
      token: over.token === null ? undefined : (over.token ?? TOKEN),
      pollIntervalMs: 0,
    });
    return row!;
  }

  /** A run as a push makes it (gitops/pushes.ts): repo_id and a trigger naming the commit. */
  async function pushRun(r: RepoRow, commit: string, job = "unit-tests"): Promise<RunRow> {
    const selector = { only: `run-${++made}` };
    const { run } = await insertRun(store, {
      jobName: job,
      job: { apiVersion: "hodei.dev/v1", kind: "Job", metadata: { name: job }, spec: { run: "true" } },
      selector,
      priority: 0,
      source: `${r.name}@${commit.slice(0, 12)}:.hodei/ci.yaml`,
      idempotencyKey: `gitops:${r.id}:${commit}:${job}`,
      trigger: { event: "push", repo: r.name, ref: "refs/heads/main", commit, before: "0".repeat(40), via: "poll" },
      repoId: r.id,
    });
    return run;
  }

  async function runToEnd(run: RunRow, exitCode: number): Promise<void> {
    const [claimed] = await claimRuns(store, "agent-1", run.selector as Record<string, string>, 1);
    await markStarted(store, claimed!.id, claimed!.attempt, new Date());
    await finishAttempt(store, claimed!.id, claimed!.attempt, { reason: "exited", exitCode, signal: null, message: "", at: new Date() });
  }

  const forCommit = (commit: string) => gh.requests.filter((q) => q.sha === commit);

  it("posts pending when queued, then success, as hodei/JOB on the run's commit with the repo's token", async () => {
    const r = reporter();
    const rp = await repo();
    const commit = sha();
    const run = await pushRun(rp, commit);
    await vi.waitFor(() => expect(forCommit(commit)).toHaveLength(1));
    await r.idle();
    await runToEnd(run, 0);
    await vi.waitFor(() => expect(forCommit(commit)).toHaveLength(2));
    await r.idle();
    const [pending, success] = forCommit(commit);
    expect(pending!.body).toEqual({ state: "pending", context: "hodei/unit-tests", description: "queued" });
    expect(success!.body).toMatchObject({ state: "success", context: "hodei/unit-tests" });
    expect(success!.body.description).toMatch(/^succeeded in \d+s$/);
    for (const q of [pending!, success!]) {
      expect(q).toMatchObject({ owner: "acme", repo: rp.name, sha: commit, answered: 201 });
      expect(q.headers.authorization).toBe(`token ${TOKEN}`);
      expect(q.headers["content-type"]).toMatch(/^application\/json/);
      expect(q.headers.accept).toMatch(/application\/vnd\.github/);
    }
    expect(await r.errors(rp.id)).toEqual([]);
  });

  it("posts failure for a failed run, with its exit code", async () => {
    const r = reporter();
    const rp = await repo();
    const commit = sha();
    const run = await pushRun(rp, commit, "lint");
    await runToEnd(run, 2);
    await vi.waitFor(() => expect(forCommit(commit).map((q) => q.body.state)).toContain("failure"));
    await r.idle();
    const last = forCommit(commit).at(-1)!;
    expect(last.body).toMatchObject({ state: "failure", context: "hodei/lint" });
    expect(last.body.description).toMatch(/^failed: exit code 2/);
    // The final status superseded or followed the pending: never a pending after it.
    expect(forCommit(commit).map((q) => q.body.state).filter((s) => s !== "pending")).toEqual(["failure"]);
  });

  it("retries after a 502 and posts", async () => {
    const r = reporter();
    const rp = await repo();
    const commit = sha();
    gh.fail(502);
    await pushRun(rp, commit);
    await vi.waitFor(() => expect(gh.posted.filter((q) => q.sha === commit)).toHaveLength(1));
    await r.idle();
    expect(forCommit(commit).map((q) => [q.answered, q.body.state])).toEqual([
      [502, "pending"],
      [201, "pending"],
    ]);
    expect(await r.errors(rp.id)).toEqual([]);
  });

  it("honours Retry-After on a 429 (the fake says 0 seconds)", async () => {
    const r = reporter();
    const rp = await repo();
    const commit = sha();
    gh.fail(429, { "retry-after": "0" });
    await pushRun(rp, commit);
    await vi.waitFor(() => expect(gh.posted.filter((q) => q.sha === commit)).toHaveLength(1));
    await r.idle();
    expect(forCommit(commit).map((q) => q.answered)).toEqual([429, 201]);
  });

  it("gives up after its attempts on a persistent 500, and `repos get` shows why", async () => {
    const r = reporter({ attempts: 3 });
    const rp = await repo();
    const commit = sha();
    gh.failAlways(500);
    const run = await pushRun(rp, commit, "deploy");
    await vi.waitFor(() => expect(forCommit(commit)).toHaveLength(3));
    await r.idle();
    expect(forCommit(commit).every((q) => q.answered === 500)).toBe(true);
    const errors = await r.errors(rp.id);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toContain(`hodei/deploy pending on ${commit.slice(0, 12)} (run ${run.id}): gave up after 3 attempts: HTTP 500`);
    expect(errors.join("\n")).not.toContain(TOKEN);

    // What `hodei repos get` prints comes from GetRepo's status_errors.
    const api = gitopsService({ store, syncer: new Syncer(store.db, tmpdir(), log, async () => {}), log, statusErrors: (id) => r.errors(id) });
    const got = await new Promise<Repo>((resolve, reject) =>
      api.getRepo({ request: { name: rp.name } } as ServerUnaryCall<GetRepoRequest, Repo>, (err, res) => (err ? reject(err) : resolve(res!))),
    );
    expect(got.statusErrors).toEqual(errors);
  });

  it("does not give up on a 422 by retrying: a client error is final at once", async () => {
    const r = reporter({ attempts: 5 });
    const rp = await repo();
    const commit = sha();
    gh.fail(422);
    await pushRun(rp, commit);
    await vi.waitFor(async () => expect(await r.errors(rp.id)).toHaveLength(1));
    await r.idle();
    expect(forCommit(commit)).toHaveLength(1);
    expect((await r.errors(rp.id))[0]).toContain("gave up after 1 attempt: HTTP 422");
  });

  it("posts success 'skipped: no matching paths' for a job a path filter skipped (reportSkipped), once", async () => {
    const r = reporter();
    const rp = await repo();
    const commit = sha();
    const p: Push = { ref: "refs/heads/main", before: "0".repeat(40), after: commit, via: "poll" };
    const o: PushOutcome = { runs: [], skippedByPaths: [{ job: "docs", reason: "no changed file matches paths" }], decisions: [] };
    r.onPushOutcome(rp, p, o);
    r.onPushOutcome(rp, p, o); // a webhook and a poll for the same push
    await r.idle();
    expect(forCommit(commit)).toHaveLength(1);
    expect(forCommit(commit)[0]).toMatchObject({
      owner: "acme",
      repo: rp.name,
      answered: 201,
      body: { state: "success", context: "hodei/docs", description: "skipped: no matching paths" },
    });
  });

  it("posts nothing for a repo without a token, or one that is not on GitHub", async () => {
    const r = reporter();
    const noToken = await repo({ token: null });
    const elsewhere = await repo({ url: "https://gitlab.example.com/acme/widgets.git" });
    const local = await repo({ url: "/srv/git/widgets" });
    const commits = [sha(), sha(), sha()];
    const runs = [await pushRun(noToken, commits[0]!), await pushRun(elsewhere, commits[1]!), await pushRun(local, commits[2]!)];
    for (const run of runs) await runToEnd(run, 0);
    const p = (after: string): Push => ({ ref: "refs/heads/main", before: "0".repeat(40), after, via: "poll" });
    r.postSkipped(noToken, commits[0]!, "docs");
    r.postSkipped(elsewhere, commits[1]!, "docs");
    r.onPushOutcome(local, p(commits[2]!), { runs: [], skippedByPaths: [{ job: "docs", reason: "" }], decisions: [] });
    // A run of a GitHub repo afterwards: once it is posted, the ones before it were heard (and dropped).
    const probe = sha();
    await pushRun(await repo(), probe);
    await vi.waitFor(() => expect(forCommit(probe)).toHaveLength(1));
    await r.idle();
    expect(gh.requests.filter((q) => commits.includes(q.sha))).toEqual([]);
  });

  it("posts after a restart what no controller posted while none was running (the sweep)", async () => {
    const rp = await repo();
    const commit = sha();
    const run = await pushRun(rp, commit);
    await runToEnd(run, 0);
    expect(forCommit(commit)).toEqual([]);
    const r = reporter();
    await vi.waitFor(() => expect(forCommit(commit)).toHaveLength(1));
    await r.idle();
    // The run has ended: only its final status, never a pending after the fact.
    expect(forCommit(commit)[0]!.body).toMatchObject({ state: "success", context: "hodei/unit-tests" });
    // Another restart finds nothing left to post.
    await r.stop();
    const again = reporter();
    await again.idle();
    expect(forCommit(commit)).toHaveLength(1);
  });

  it("a reporter stopped while it waits to retry releases its claim, and the next one posts it", async () => {
    const rp = await repo();
    const commit = sha();
    gh.failAlways(503);
    // Its backoff is a minute: without the release, the claim would be its own for that long.
    const first = reporter({ minBackoffMs: 60_000, maxBackoffMs: 60_000, attempts: 5 });
    await pushRun(rp, commit);
    await vi.waitFor(async () => expect(await first.errors(rp.id)).toEqual([expect.stringContaining("retrying (attempt 1): HTTP 503")]));
    await first.stop();
    gh.failAlways(undefined);
    const second = reporter();
    await vi.waitFor(() => expect(gh.posted.filter((q) => q.sha === commit)).toHaveLength(1));
    await second.idle();
    expect(forCommit(commit).map((q) => [q.answered, q.body.state])).toEqual([
      [503, "pending"],
      [201, "pending"],
    ]);
    expect(await second.errors(rp.id)).toEqual([]);
  });

  it("takes over a claim left by a controller that died before posting, once its lease ran out", async () => {
    const rp = await repo();
    const commit = sha();
    const run = await pushRun(rp, commit);
    // What a controller that crashed right after claiming leaves behind (its lease: 1 ms).
    await claimStatus(store.db, { key: `run/${run.id}/pending`, repoId: rp.id, runId: run.id, commit, context: "hodei/unit-tests", state: "pending", description: "queued" }, "dead", 1);
    const r = reporter();
    await vi.waitFor(() => expect(forCommit(commit)).toHaveLength(1));
    await r.idle();
    expect(forCommit(commit)[0]).toMatchObject({ answered: 201, body: { state: "pending", context: "hodei/unit-tests", description: "queued" } });
    expect(await getStatus(store.db, `run/${run.id}/pending`)).toMatchObject({ outcome: "posted", attempts: 1 });
  });
});

describe.each(DIALECTS)("commit statuses with two controllers on one database (%s)", (dialect) => {
  let gh: FakeGitHub;
  let stores: Store[] = [];
  let dispose: () => Promise<void> = async () => {};

  beforeAll(async () => {
    gh = await startFakeGitHub();
    if (dialect === "postgres") {
      // Two stores, two pools, two LISTEN connections: two controllers as far as the database can tell.
      const database = await createTestDatabase();
      stores = [await openStore({ databaseUrl: database.url, migrate: false }), await openStore({ databaseUrl: database.url, migrate: false })];
      for (const s of stores) await s.bus.start();
      dispose = async () => {
        for (const s of stores) await s.close();
        await database.drop();
      };
    } else {
      // PGlite is one process's database: two reporters on one store and bus.
      const s: TestStore = await createTestStore(dialect);
      stores = [s, s];
      dispose = () => s.dispose();
    }
  });
  afterAll(async () => {
    await gh?.close();
    await dispose();
  });

  it("posts each status once, not once per controller", async () => {
    const reporters = stores.map((s) => new StatusReporter({ store: s, log, apiUrl: gh.url, minBackoffMs: 2, maxBackoffMs: 10, sweepIntervalMs: 0 }));
    for (const r of reporters) r.start();
    // Heard after each reporter's own listener (subscribed first): once these hear an event, so did the reporters.
    const heard = stores.map((s) => {
      const seen: string[] = [];
      s.bus.subscribe((ev) => void ("runId" in ev && seen.push(`${ev.type}:${ev.runId}`)));
      return seen;
    });
    try {
      const [a, b] = stores as [Store, Store];
      const rp = (await insertRepo(a.db, { name: "twice", url: "git@127.0.0.1:acme/twice.git", branch: "main", path: ".hodei", platform: false, token: TOKEN, pollIntervalMs: 0 }))!;
      const commit = "d".repeat(40);
      const { run } = await insertRun(a, {
        jobName: "build",
        job: { name: "build" },
        selector: { only: "twice" },
        priority: 0,
        source: "twice",
        trigger: { event: "push", repo: "twice", ref: "refs/heads/main", commit },
        repoId: rp.id,
      });
      await vi.waitFor(() => expect(heard.every((h) => h.includes(`run:created:${run.id}`))).toBe(true));
      // The other controller places, starts and ends it.
      const [claimed] = await claimRuns(b, "agent-b", { only: "twice" }, 1);
      await markStarted(b, claimed!.id, claimed!.attempt, new Date());
      await finishAttempt(b, claimed!.id, claimed!.attempt, { reason: "exited", exitCode: 0, signal: null, message: "", at: new Date() });
      await vi.waitFor(() => expect(heard.every((h) => h.includes(`run:finished:${run.id}`))).toBe(true));
      await Promise.all(reporters.map((r) => r.idle()));
      expect(gh.requests.map((q) => [q.owner, q.repo, q.sha, q.body.state])).toEqual([
        ["acme", "twice", commit, "pending"],
        ["acme", "twice", commit, "success"],
      ]);
    } finally {
      await Promise.all(reporters.map((r) => r.stop()));
    }
  });
});

describe("commit statuses in the assembled controller", () => {
  let gh: FakeGitHub;
  let store: TestStore;
  let controller: Controller | undefined;

  beforeAll(async () => {
    gh = await startFakeGitHub();
    store = await createTestStore("pglite");
  });
  afterAll(async () => {
    await controller?.stop();
    await gh?.close();
    await store?.dispose();
  });

  it("posts to the API of --github-api-url for a run of a repo on its host", async () => {
    controller = await startController({ store, listen: "127.0.0.1:0", logger: log, githubApiUrl: gh.url });
    const rp = (await insertRepo(store.db, { name: "assembled", url: "https://127.0.0.1/acme/assembled", branch: "main", path: ".hodei", platform: false, token: TOKEN, pollIntervalMs: 0 }))!;
    const commit = "e".repeat(40);
    await insertRun(store, {
      jobName: "build",
      job: { name: "build" },
      selector: { only: "nobody" },
      priority: 0,
      source: "assembled",
      trigger: { event: "push", repo: rp.name, ref: "refs/heads/main", commit },
      repoId: rp.id,
    });
    await vi.waitFor(() => expect(gh.posted).toHaveLength(1));
    expect(gh.posted[0]).toMatchObject({ owner: "acme", repo: "assembled", sha: commit, body: { state: "pending", context: "hodei/build", description: "queued" } });
  });
});
