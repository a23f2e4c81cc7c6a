/**
 * Syncing real git repositories (temp dirs, file paths) into a real store, on
 * both dialects: definitions versioned by commit, errors beside valid jobs,
 * platform-only kinds, moved refs found by polling, and pushes that start one
 * run per matching job at their commit, once, however often they arrive.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { pino } from "pino";
import { createTestStore, DIALECTS, type TestStore } from "../../helpers/db.js";
import { createRepo, git, jobYaml, type TestRepo } from "../../helpers/git.js";
import { tempDir } from "../../helpers/procs.js";
import { Syncer, type RefChange } from "../../../controller/gitops/sync.js";
import { pushesFromSync, startPushRuns, type RunTrigger } from "../../../controller/gitops/pushes.js";
import { Mirror, MirrorError, scrub, ZERO_COMMIT } from "../../../controller/gitops/mirror.js";
import { commitErrors, definitionsAt, getRepoByName, insertRepo, listSyncs, takeSyncLease, releaseSyncLease } from "../../../controller/store/repos.js";
import { listRuns } from "../../../controller/store/runs.js";
import type { RepoRow } from "../../../controller/store/schema.js";

const log = pino({ level: "silent" });

const hello = (branches = "[main]") => jobYaml("hello", `run: echo hi\ntriggers: { push: { branches: ${branches} } }`);
const docsOnly = jobYaml("docs", `run: echo docs\ntriggers: { push: { paths: ["docs/**"] } }`);

describe.each(DIALECTS)("%s", (dialect) => {
  let store: TestStore;
  beforeAll(async () => {
    store = await createTestStore(dialect);
  });
  afterAll(() => store?.dispose());

  let n = 0;
  async function addRepo(repo: TestRepo, extra: Partial<{ platform: boolean; path: string }> = {}): Promise<RepoRow> {
    const row = await insertRepo(store.db, { name: `r${++n}`, url: repo.dir, branch: "main", path: extra.path ?? ".hodei", platform: extra.platform ?? false, pollIntervalMs: 0 });
    return row!;
  }
  const fresh = async (r: RepoRow) => (await getRepoByName(store.db, r.name))!;

  it("reads the head's definitions; an invalid document never hides the valid ones beside it, and errors name FILE:LINE:COL", async () => {
    const repo = createRepo();
    const c1 = repo.commit({
      ".hodei/good.yaml": hello() + "---\n" + jobYaml("broken", "run: 3"),
      ".hodei/also-good.yml": docsOnly,
      ".hodei/not-yaml.txt": "ignored",
      "README.md": "x",
    });
    const row = await addRepo(repo);
    const syncer = new Syncer(store.db, tempDir(), log);
    const r = await syncer.sync(row, "add");
    expect(r.head).toBe(c1);
    expect(r.changes).toEqual([]); // a first sync only records where refs are
    expect((await definitionsAt(store.db, row.id, c1)).map((d) => [d.name, d.file])).toEqual([
      ["docs", ".hodei/also-good.yml"],
      ["hello", ".hodei/good.yaml"],
    ]);
    expect(r.errors).toEqual([expect.stringMatching(/^\.hodei\/good\.yaml:12:8: expected a string, got a number/)]);
    const after = await fresh(row);
    expect(after.last_sync_commit).toBe(c1);
    expect(after.last_sync_error).toBeNull();
  });

  it("stores definitions per commit: a run's commit keeps its own definition after the branch moves on", async () => {
    const repo = createRepo();
    const c1 = repo.commit({ ".hodei/j.yaml": hello() });
    const row = await addRepo(repo);
    const syncer = new Syncer(store.db, tempDir(), log);
    await syncer.sync(row, "add");
    const c2 = repo.commit({ ".hodei/j.yaml": jobYaml("hello", "run: echo changed") });
    await syncer.sync(await fresh(row), "manual");
    expect((await definitionsAt(store.db, row.id, c1))[0]!.job).toMatchObject({ spec: { run: "echo hi" } });
    expect((await definitionsAt(store.db, row.id, c2))[0]!.job).toMatchObject({ spec: { run: "echo changed" } });
  });

  it("accepts Policy and Provider documents only from platform repositories", async () => {
    const policy = "apiVersion: hodei.dev/v1\nkind: Policy\nmetadata: { name: p }\nspec: {}\n";
    const repo = createRepo();
    const c = repo.commit({ ".hodei/p.yaml": policy, ".hodei/j.yaml": hello() });
    const plain = await addRepo(repo);
    const platform = await addRepo(repo, { platform: true });
    const syncer = new Syncer(store.db, tempDir(), log);
    expect((await syncer.sync(plain, "add")).errors).toEqual([expect.stringMatching(/^\.hodei\/p\.yaml:1:1: kind Policy is accepted only from platform repositories/)]);
    expect((await syncer.sync(platform, "add")).errors).toEqual([]);
    expect(await commitErrors(store.db, platform.id, c)).toEqual([]);
    expect((await definitionsAt(store.db, plain.id, c)).map((d) => d.name)).toEqual(["hello"]);
  });

  it("a definitions path of the repo's choosing; a commit without the folder defines nothing and is no error", async () => {
    const repo = createRepo();
    const c = repo.commit({ "ci/jobs/j.yaml": hello(), ".hodei/other.yaml": docsOnly });
    const row = await addRepo(repo, { path: "ci/jobs" });
    const syncer = new Syncer(store.db, tempDir(), log);
    await syncer.sync(row, "add");
    expect((await definitionsAt(store.db, row.id, c)).map((d) => d.name)).toEqual(["hello"]);
    const empty = createRepo();
    const c2 = empty.commit({ "README.md": "nothing here" });
    const row2 = await addRepo(empty);
    expect(await syncer.sync(row2, "add")).toMatchObject({ head: c2, errors: [] });
    expect(await definitionsAt(store.db, row2.id, c2)).toEqual([]);
  });

  it("finds moved, new and deleted refs on the next sync and tells the push handler before recording them", async () => {
    const repo = createRepo();
    const c1 = repo.commit({ ".hodei/j.yaml": hello() });
    const row = await addRepo(repo);
    const seen: RefChange[][] = [];
    const syncer = new Syncer(store.db, tempDir(), log, async (_r, changes) => {
      seen.push(changes);
    });
    await syncer.sync(row, "add");
    const c2 = repo.commit({ "src/a.ts": "1" });
    git(repo.dir, "branch", "feature");
    git(repo.dir, "tag", "v1.0.0");
    await syncer.sync(await fresh(row), "poll");
    expect(seen.at(-1)!.sort((a, b) => a.ref.localeCompare(b.ref))).toEqual([
      { ref: "refs/heads/feature", before: ZERO_COMMIT, after: c2 },
      { ref: "refs/heads/main", before: c1, after: c2 },
      { ref: "refs/tags/v1.0.0", before: ZERO_COMMIT, after: c2 },
    ]);
    git(repo.dir, "branch", "-D", "feature");
    await syncer.sync(await fresh(row), "poll");
    expect(seen.at(-1)).toEqual([{ ref: "refs/heads/feature", before: c2, after: ZERO_COMMIT }]);
    const count = seen.length;
    await syncer.sync(await fresh(row), "poll");
    expect(seen.length).toBe(count); // nothing moved: the handler is not called
  });

  it("a push found by polling starts one run per matching job at its commit; the same push again (webhook, redelivery) starts nothing new", async () => {
    const repo = createRepo();
    repo.commit({ ".hodei/j.yaml": hello(), ".hodei/d.yaml": docsOnly });
    const row = await addRepo(repo);
    const syncer = new Syncer(store.db, tempDir(), log, pushesFromSync(store, log));
    await syncer.sync(row, "add");
    const before = repo.head();
    const c2 = repo.commit({ "src/app.ts": "console.log(1)" });
    await syncer.sync(await fresh(row), "poll");
    const runs = await listRuns(store.db, { limit: 10, repoId: row.id });
    expect(runs.map((r) => r.job_name)).toEqual(["hello"]); // docs: no changed file under docs/**
    expect(runs[0]!.trigger as RunTrigger).toMatchObject({ event: "push", ref: "refs/heads/main", commit: c2, before, via: "poll", repo: row.name });
    expect(runs[0]!.source).toBe(`${row.name}@${c2.slice(0, 12)}:.hodei/j.yaml`);

    // The webhook for the same push, after the poll: the run the poll made, no other.
    const mirror = await syncer.mirror(row);
    const again = await startPushRuns(store, row, mirror, { ref: "refs/heads/main", before, after: c2, via: "webhook", deliveryId: "d-1" }, log);
    expect(again.runs.map((r) => r.id)).toEqual([runs[0]!.id]);
    expect(await listRuns(store.db, { limit: 10, repoId: row.id })).toHaveLength(1);
  });

  it("path filters see the files the push changed, from the mirror; a job deleted from the repository stops triggering", async () => {
    const repo = createRepo();
    repo.commit({ ".hodei/j.yaml": hello(), ".hodei/d.yaml": docsOnly });
    const row = await addRepo(repo);
    const syncer = new Syncer(store.db, tempDir(), log, pushesFromSync(store, log));
    await syncer.sync(row, "add");
    const c2 = repo.commit({ "docs/guide.md": "# guide" });
    await syncer.sync(await fresh(row), "poll");
    expect((await listRuns(store.db, { limit: 10, repoId: row.id })).map((r) => r.job_name).sort()).toEqual(["docs", "hello"]);
    repo.commit({ ".hodei/j.yaml": null, "docs/more.md": "more" });
    await syncer.sync(await fresh(row), "poll");
    const runs = await listRuns(store.db, { limit: 10, repoId: row.id });
    expect(runs.map((r) => r.job_name).sort()).toEqual(["docs", "docs", "hello"]);
    expect((runs[0]!.trigger as RunTrigger).commit).not.toBe(c2);
  });

  it("a deleted branch starts nothing; a push to a branch the job does not watch starts nothing", async () => {
    const repo = createRepo();
    repo.commit({ ".hodei/j.yaml": hello() });
    git(repo.dir, "branch", "feature");
    const row = await addRepo(repo);
    const syncer = new Syncer(store.db, tempDir(), log, pushesFromSync(store, log));
    await syncer.sync(row, "add");
    git(repo.dir, "checkout", "-q", "feature");
    repo.commit({ "x.txt": "1" });
    await syncer.sync(await fresh(row), "poll");
    git(repo.dir, "checkout", "-q", "main");
    git(repo.dir, "branch", "-D", "feature");
    await syncer.sync(await fresh(row), "poll");
    expect(await listRuns(store.db, { limit: 10, repoId: row.id })).toEqual([]);
  });

  it("syncs of one repo never overlap: concurrent requests share at most one more sync, and another owner's lease is respected", async () => {
    const repo = createRepo();
    repo.commit({ ".hodei/j.yaml": hello() });
    const row = await addRepo(repo);
    const syncer = new Syncer(store.db, tempDir(), log);
    const results = await Promise.all([syncer.sync(row, "manual"), syncer.sync(row, "manual"), syncer.sync(row, "manual"), syncer.sync(row, "manual")]);
    expect(results.every((r) => r.head === repo.head())).toBe(true);
    expect((await listSyncs(store.db, row.id, 10)).length).toBeLessThanOrEqual(2);
    // The lease itself: held by one owner, refused to another until released.
    expect(await takeSyncLease(store.db, row.id, "controller-a", 60_000)).toBe(true);
    expect(await takeSyncLease(store.db, row.id, "controller-b", 60_000)).toBe(false);
    await releaseSyncLease(store.db, row.id, "controller-a");
    expect(await takeSyncLease(store.db, row.id, "controller-b", 60_000)).toBe(true);
    await releaseSyncLease(store.db, row.id, "controller-b");
  });

  it("a failed fetch is recorded on the repo and keeps the token out of every message", async () => {
    const token = "ghp_supersecret_token_value";
    const row = (await insertRepo(store.db, { name: `r${++n}`, url: "http://127.0.0.1:1/nope.git", branch: "main", path: ".hodei", platform: false, token, pollIntervalMs: 0 }))!;
    const syncer = new Syncer(store.db, tempDir(), log);
    const err = (await syncer.sync(row, "manual").then(() => undefined, (e: unknown) => e)) as Error;
    expect(err).toBeInstanceOf(Error);
    expect(err.message).toMatch(/git fetch http:\/\/127\.0\.0\.1:1\/nope\.git failed/);
    expect(err.message).not.toContain(token);
    const after = await fresh(row);
    expect(after.last_sync_error).toMatch(/failed/);
    expect(after.last_sync_error).not.toContain(token);
  });
});

describe("Mirror", () => {
  it("scrubs a token from git's text in its raw and its header (base64) forms", () => {
    const token = "tok-123";
    const header = Buffer.from(`x-access-token:${token}`).toString("base64");
    expect(scrub(`fatal: auth ${token} failed; header Basic ${header}`, token)).toBe("fatal: auth *** failed; header Basic ***");
    expect(scrub("no token here", undefined)).toBe("no token here");
  });

  it("refuses to read a commit it does not have, with git's words", async () => {
    const repo = createRepo();
    repo.commit({ "a.txt": "a" });
    const m = await Mirror.open(tempDir(), { url: repo.dir });
    await m.fetch();
    expect(await m.hasCommit("f".repeat(40))).toBe(false);
    expect(await m.hasCommit("not a sha")).toBe(false);
    await expect(m.readYaml("f".repeat(40), ".hodei", 1 << 20)).rejects.toBeInstanceOf(MirrorError);
  });

  it("reports a file over the size limit without reading it, and reads the rest", async () => {
    const repo = createRepo();
    const c = repo.commit({ ".hodei/big.yaml": "x: " + "y".repeat(5000), ".hodei/small.yaml": hello() });
    const m = await Mirror.open(tempDir(), { url: repo.dir });
    await m.fetch();
    const files = await m.readYaml(c, ".hodei", 1000);
    expect(files.map((f) => [f.file, f.text === undefined])).toEqual([
      [".hodei/big.yaml", true],
      [".hodei/small.yaml", false],
    ]);
  });
});
