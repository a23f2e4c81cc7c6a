/**
 * Schedules from repositories, end to end inside one process: a real git
 * repository (a temp dir, file:// URL) registered in the store and synced by
 * the Syncer, its scheduled jobs read by repoScheduledJobs, and the Scheduler
 * driven by a fake clock (no test waits for a real minute). The clock starts
 * at the real time, because `since` comes from when the sync ran; the tests
 * compute ticks from the clock, never assert the wall clock.
 */
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { sql } from "kysely";
import { pino } from "pino";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { Scheduler, type Clock } from "../../../controller/scheduler/scheduler.js";
import { FakeClock, MIN, nextMinute } from "../../helpers/fake-clock.js";
import { repoScheduledJobs, scheduleKey, scheduledSince, type ScheduleTrigger } from "../../../controller/gitops/scheduled-jobs.js";
import { Syncer } from "../../../controller/gitops/sync.js";
import { insertRepo } from "../../../controller/store/repos.js";
import { openStore, type Store } from "../../../controller/store/db.js";
import type { RepoRow } from "../../../controller/store/schema.js";
import { createTestStore, DIALECTS, type Dialect, type TestStore } from "../../helpers/db.js";

const log = pino({ level: "silent" });


function jobYaml(name: string, schedule: string[] | undefined, extra = ""): string {
  return [
    "apiVersion: hodei.dev/v1",
    "kind: Job",
    `metadata: { name: ${name} }`,
    "spec:",
    `  run: echo ${name}`,
    ...(schedule ? ["  triggers:", `    schedule: [${schedule.map((s) => `"${s}"`).join(", ")}]`] : []),
    extra,
  ].join("\n");
}

/** A git repository in a temp dir with .hodei/ job files. */
class GitRepo {
  readonly dir = mkdtempSync(join(tmpdir(), "hodei-sched-repo-"));
  constructor() {
    this.git("init", "-q", "-b", "main");
    this.git("config", "user.email", "t@example.com");
    this.git("config", "user.name", "t");
    mkdirSync(join(this.dir, ".hodei"));
  }
  git(...args: string[]): string {
    return execFileSync("git", args, { cwd: this.dir, encoding: "utf8" }).trim();
  }
  /** Writes (or, with undefined, deletes) the files and commits; returns the commit. */
  commit(files: Record<string, string | undefined>): string {
    for (const [f, text] of Object.entries(files)) {
      if (text === undefined) rmSync(join(this.dir, ".hodei", f));
      else writeFileSync(join(this.dir, ".hodei", f), text);
    }
    this.git("add", "-A");
    this.git("commit", "-q", "-m", "change");
    return this.git("rev-parse", "HEAD");
  }
  get url(): string {
    return `file://${this.dir}`;
  }
}

interface ScheduledRun {
  job_name: string;
  trigger: ScheduleTrigger;
  source: string;
  idempotency_key: string | null;
  repo_id: string | null;
}

async function scheduledRuns(store: Store): Promise<ScheduledRun[]> {
  const rows = await store.db.selectFrom("runs").select(["job_name", "trigger", "source", "idempotency_key", "repo_id"]).orderBy("id").execute();
  return rows as unknown as ScheduledRun[];
}
const ticksOf = (runs: ScheduledRun[], job: string): string[] => runs.filter((r) => r.job_name === job).map((r) => r.trigger.tick);

const tmpDirs: string[] = [];
afterAll(() => {
  for (const d of tmpDirs) rmSync(d, { recursive: true, force: true });
});

describe.each(DIALECTS)("scheduled jobs from a repository (%s)", (dialect: Dialect) => {
  let store: TestStore;
  let syncer: Syncer;
  const running: Scheduler[] = [];
  const opened: Store[] = [];
  let n = 0;

  beforeAll(async () => {
    store = await createTestStore(dialect);
    const mirrors = mkdtempSync(join(tmpdir(), "hodei-sched-mirrors-"));
    tmpDirs.push(mirrors);
    syncer = new Syncer(store.db, mirrors, log);
  });
  afterAll(async () => {
    await store?.dispose();
  });
  afterEach(async () => {
    await Promise.all(running.splice(0).map((s) => s.stop()));
    await Promise.all(opened.splice(0).map((s) => s.close()));
  });

  async function addRepo(g: GitRepo): Promise<RepoRow> {
    tmpDirs.push(g.dir);
    const repo = await insertRepo(store.db, { name: `r${++n}`, url: g.url, branch: "main", path: ".hodei", platform: false, pollIntervalMs: 0 });
    await syncer.sync(repo!, "add");
    return repo!;
  }
  function scheduler(s: Store, clock: Clock, opts: { catchUpWindowMs?: number; only?: string } = {}): Scheduler {
    const source = repoScheduledJobs(s.db);
    // Each test looks at its own repo only (the store is shared by the file's tests).
    const jobs = async () => (await source.jobs()).filter((j) => !opts.only || j.key.startsWith(opts.only));
    const errors: unknown[] = [];
    const sch = new Scheduler({ store: s, clock, jobs, catchUpWindowMs: opts.catchUpWindowMs, onError: (e) => void errors.push(e) });
    running.push(sch);
    return sch;
  }
  const runsOf = async (repo: RepoRow) => (await scheduledRuns(store)).filter((r) => r.repo_id === repo.id);
  /**
   * A clock at the instant the repo's scheduled jobs appeared (the latest
   * `since`): no tick of theirs is due yet, however long the sync took.
   */
  async function clockAtSince(repo: RepoRow, jobs: string[]): Promise<FakeClock> {
    const since = await scheduledSince(store.db, repo.id, jobs);
    expect([...since.keys()].sort()).toEqual([...jobs].sort());
    return new FakeClock(Math.max(...[...since.values()].map((d) => d.getTime())));
  }

  it("a `* * * * *` job starts exactly one run per minute boundary, at the head commit, with a schedule trigger", async () => {
    const g = new GitRepo();
    // Beside it: a job with no schedule.
    const head = g.commit({
      "tick.yaml": jobYaml("tick", ["* * * * *"]),
      "other.yaml": jobYaml("not-scheduled", undefined),
    });
    const repo = await addRepo(g);
    const clock = await clockAtSince(repo, ["tick"]);
    const boundary = nextMinute(clock.t);
    const s = scheduler(store, clock, { only: `repo/${repo.id}/` });
    await s.start();
    // Nothing is due before the boundary: the tick before it came before the job did.
    expect(await runsOf(repo)).toEqual([]);
    await clock.advance(boundary + 1_000, [s]);

    const tick = new Date(boundary).toISOString();
    const key = scheduleKey(repo.id, "tick");
    expect(await runsOf(repo)).toEqual([
      {
        job_name: "tick",
        trigger: { event: "schedule", repo: repo.name, ref: "refs/heads/main", commit: head, via: "schedule", cron: "* * * * *", timezone: "UTC", tick },
        source: `${repo.name}@${head.slice(0, 12)}:.hodei/tick.yaml`,
        idempotency_key: `schedule:${key}@${tick}`,
        repo_id: repo.id,
      },
    ]);
    const claimed = await store.db.selectFrom("schedule_ticks").select(["job_key", "tick_at"]).where("job_key", "=", key).execute();
    expect(claimed.map((c) => new Date(c.tick_at).toISOString())).toEqual([tick]);

    await clock.advance(boundary + MIN + 1_000, [s]);
    expect(ticksOf(await runsOf(repo), "tick")).toEqual([tick, new Date(boundary + MIN).toISOString()]);
  });

  it("a job removed from the repo (new commit, sync) starts no further runs; one changed keeps its claims", async () => {
    const g = new GitRepo();
    g.commit({ "a.yaml": jobYaml("a", ["* * * * *"]), "b.yaml": jobYaml("b", ["* * * * *"]) });
    const repo = await addRepo(g);
    const clock = await clockAtSince(repo, ["a", "b"]);
    const boundary = nextMinute(clock.t);
    const s = scheduler(store, clock, { only: `repo/${repo.id}/` });
    const unsubscribe = syncer.onSynced(() => s.poke());
    try {
      await s.start();
      await clock.advance(boundary + 1_000, [s]);
      expect((await runsOf(repo)).map((r) => r.job_name).sort()).toEqual(["a", "b"]);

      // b goes; a changes (its command and a second entry in another zone), and is not fired again for the tick it had.
      const changed = jobYaml("a", ["* * * * *"]).trimEnd().replace(/\]$/, ', { cron: "*/2 * * * *", timezone: Asia/Kolkata }]') + "\n  env: { CHANGED: '1' }";
      const head2 = g.commit({ "b.yaml": undefined, "a.yaml": changed });
      await syncer.sync(repo, "manual");
      await s.settled();
      expect(await runsOf(repo)).toHaveLength(2);
      await clock.advance(boundary + 3 * MIN + 1_000, [s]);
      const runs = await runsOf(repo);
      expect(ticksOf(runs, "b")).toEqual([new Date(boundary).toISOString()]);
      expect(ticksOf(runs, "a")).toEqual([0, 1, 2, 3].map((m) => new Date(boundary + m * MIN).toISOString()));
      expect(runs.filter((r) => r.job_name === "a").slice(1).map((r) => r.trigger.commit)).toEqual([head2, head2, head2]);
    } finally {
      unsubscribe();
    }
  });

  it("a job removed and added again does not fire a tick it missed while it was gone", async () => {
    const g = new GitRepo();
    g.commit({ "back.yaml": jobYaml("back", ["* * * * *"]) });
    const repo = await addRepo(g);
    const clock = await clockAtSince(repo, ["back"]);
    const boundary = nextMinute(clock.t);
    const s = scheduler(store, clock, { only: `repo/${repo.id}/` });
    await s.start();
    await clock.advance(boundary + 1_000, [s]);
    expect(ticksOf(await runsOf(repo), "back")).toEqual([new Date(boundary).toISOString()]);
    await s.stop();

    // Gone, then back: the sync that brings it back is recorded at boundary + 3.5 min (the clock's time).
    g.commit({ "back.yaml": undefined });
    await syncer.sync(repo, "manual");
    g.commit({ "back.yaml": jobYaml("back", ["* * * * *"]) });
    await syncer.sync(repo, "manual");
    const returned = boundary + 3 * MIN + 30_000;
    await sql`update repo_syncs set started_at = ${new Date(returned)} where id = (select max(id) from repo_syncs where repo_id = ${repo.id})`.execute(store.db);
    expect((await scheduledSince(store.db, repo.id, ["back"])).get("back")).toEqual(new Date(returned));
    // The last claim is the boundary's; the 3-minute tick is due by the catch-up rule, but the job was not there then.
    clock.t = returned;
    const s2 = scheduler(store, clock, { only: `repo/${repo.id}/` });
    await s2.start();
    expect(await runsOf(repo)).toHaveLength(1);
    await clock.advance(boundary + 4 * MIN + 1_000, [s2]);
    expect(ticksOf(await runsOf(repo), "back")).toEqual([boundary, boundary + 4 * MIN].map((t) => new Date(t).toISOString()));
  });

  it("a newly added job does not fire a tick from before it appeared; the jobs that were there do", async () => {
    const g = new GitRepo();
    g.commit({ "old.yaml": jobYaml("old", ["* * * * *"]) });
    const repo = await addRepo(g);
    // As if the repo had been added ten minutes ago and never scheduled since.
    await sql`update repo_syncs set started_at = started_at - interval '10 minutes' where repo_id = ${repo.id}`.execute(store.db);
    g.commit({ "new.yaml": jobYaml("new", ["* * * * *"]) });
    await syncer.sync(repo, "manual");
    const since = (await scheduledSince(store.db, repo.id, ["old", "new"])).get("new")!;
    expect(since).toBeInstanceOf(Date);
    // The loop starts just as `new` appeared: the last tick (at or before that instant) is due for `old` only.
    const clock = new FakeClock(since.getTime());
    const lastTick = Math.floor(clock.t / MIN) * MIN;
    const s = scheduler(store, clock, { only: `repo/${repo.id}/` });
    await s.start();
    let runs = await runsOf(repo);
    expect(ticksOf(runs, "old")).toEqual([new Date(lastTick).toISOString()]);
    expect(ticksOf(runs, "new")).toEqual([]);

    await clock.advance(lastTick + MIN + 1_000, [s]);
    runs = await runsOf(repo);
    expect(ticksOf(runs, "old")).toEqual([lastTick, lastTick + MIN].map((t) => new Date(t).toISOString()));
    expect(ticksOf(runs, "new")).toEqual([new Date(lastTick + MIN).toISOString()]);
  });

  it("after downtime, fires only the last missed tick within the catch-up window, once", async () => {
    const g = new GitRepo();
    g.commit({ "five.yaml": jobYaml("five", ["*/5 * * * *"]) });
    const repo = await addRepo(g);
    const clock = await clockAtSince(repo, ["five"]);
    const first = Math.ceil((clock.t + 1) / (5 * MIN)) * 5 * MIN;
    const a = scheduler(store, clock, { only: `repo/${repo.id}/` });
    await a.start();
    await clock.advance(first + 1_000, [a]);
    await a.stop(); // the controller goes down

    // Back 22 minutes later: 4 ticks were missed; only the last (first + 20 min) fires.
    clock.t = first + 22 * MIN;
    const b = scheduler(store, clock, { only: `repo/${repo.id}/` });
    await b.start();
    await b.stop();
    expect(ticksOf(await runsOf(repo), "five")).toEqual([first, first + 20 * MIN].map((t) => new Date(t).toISOString()));

    // Down again; back 2 hours later with a 1-minute window: the last missed tick (2 min ago) is too old.
    clock.t = first + 2 * 60 * MIN + 22 * MIN;
    const c = scheduler(store, clock, { only: `repo/${repo.id}/`, catchUpWindowMs: MIN });
    await c.start();
    expect(await runsOf(repo)).toHaveLength(2);
    // ...and the next tick fires as usual.
    await clock.advance(first + 2 * 60 * MIN + 25 * MIN + 1_000, [c]);
    expect(ticksOf(await runsOf(repo), "five").at(-1)).toBe(new Date(first + 2 * 60 * MIN + 25 * MIN).toISOString());
  });

  it.runIf(dialect === "postgres")("two controllers (two stores, two schedulers) on one database start one run per tick", async () => {
    const g = new GitRepo();
    g.commit({ "tick.yaml": jobYaml("tick", ["* * * * *", "*/2 * * * *"]) });
    const repo = await addRepo(g);
    const clock = await clockAtSince(repo, ["tick"]);
    const [sa, sb] = await Promise.all([0, 1].map(() => openStore({ databaseUrl: store.url!, migrate: false, poolSize: 2 })));
    opened.push(sa!, sb!);
    const boundary = nextMinute(clock.t);
    const a = scheduler(sa!, clock, { only: `repo/${repo.id}/` });
    const b = scheduler(sb!, clock, { only: `repo/${repo.id}/` });
    await Promise.all([a.start(), b.start()]);
    await clock.advance(boundary + 4 * MIN + 1_000, [a, b]);
    // Five boundaries, both wake for each; the even minutes match both entries: still one tick.
    expect(ticksOf(await runsOf(repo), "tick")).toEqual([0, 1, 2, 3, 4].map((m) => new Date(boundary + m * MIN).toISOString()));
  });
});
