/**
 * The schedule loop as a started controller runs it: a repository added
 * through the CLI's client (GitOpsService AddRepo, which syncs), the loop woken
 * by that sync, and its clock (injected, so nothing waits for a real minute)
 * moved across minute boundaries. Also --schedule-catch-up 0 across a restart.
 */
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ControlClient } from "../../../cli/client.js";
import { startController, type Controller } from "../../../controller/server.js";
import { scheduledSince, type ScheduleTrigger } from "../../../controller/gitops/scheduled-jobs.js";
import { createTestStore, type TestStore } from "../../helpers/db.js";
import { FakeClock, MIN, nextMinute } from "../../helpers/fake-clock.js";

const log = pino({ level: "silent" });

describe("a controller runs the schedules of its repositories", () => {
  let store: TestStore;
  const dirs: string[] = [];
  const controllers: Controller[] = [];
  const clients: ControlClient[] = [];

  beforeAll(async () => {
    store = await createTestStore("postgres");
  });
  afterAll(async () => {
    for (const c of clients) c.close();
    await Promise.all(controllers.map((c) => c.stop()));
    await store?.dispose();
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  const tmp = (prefix: string): string => {
    const d = mkdtempSync(join(tmpdir(), prefix));
    dirs.push(d);
    return d;
  };

  async function start(clock: FakeClock, mirrorsDir: string, scheduleCatchUpMs?: number): Promise<Controller> {
    const c = await startController({ store, listen: "127.0.0.1:0", logger: log, mirrorsDir, scheduleClock: clock, scheduleCatchUpMs });
    controllers.push(c);
    return c;
  }
  async function scheduledTicks(): Promise<{ tick: string; commit: string }[]> {
    const rows = await store.db.selectFrom("runs").select(["trigger"]).orderBy("id").execute();
    return rows.map((r) => r.trigger as ScheduleTrigger).filter((t) => t?.event === "schedule").map((t) => ({ tick: t.tick, commit: t.commit! }));
  }

  it("a `* * * * *` job added by `repos add` starts one run per minute; --schedule-catch-up 0 fires no missed tick after a restart", async () => {
    const repoDir = tmp("hodei-sched-ctl-repo-");
    const git = (...a: string[]) => execFileSync("git", a, { cwd: repoDir, encoding: "utf8" }).trim();
    git("init", "-q", "-b", "main");
    git("config", "user.email", "t@example.com");
    git("config", "user.name", "t");
    mkdirSync(join(repoDir, ".hodei"));
    writeFileSync(join(repoDir, ".hodei", "tick.yaml"), "apiVersion: hodei.dev/v1\nkind: Job\nmetadata: { name: tick }\nspec:\n  run: echo tick\n  triggers: { schedule: ['* * * * *'] }\n");
    git("add", "-A");
    git("commit", "-q", "-m", "tick");
    const head = git("rev-parse", "HEAD");
    const mirrors = tmp("hodei-sched-ctl-mirrors-");

    const clock = new FakeClock(Date.now());
    const a = await start(clock, mirrors);
    const client = new ControlClient(a.address);
    clients.push(client);
    const repo = await client.addRepo({ url: `file://${repoDir}`, name: "ticks", pollIntervalMs: -1 });
    await a.scheduler.settled();
    // The sync woke the loop, which now waits for the job's first tick (not a minute from the start).
    const repoId = (await store.db.selectFrom("repos").select("id").where("name", "=", repo.name).executeTakeFirstOrThrow()).id;
    const since = (await scheduledSince(store.db, repoId, ["tick"])).get("tick")!;
    clock.t = Math.max(clock.t, since.getTime());
    const boundary = nextMinute(clock.t);
    expect(await scheduledTicks()).toEqual([]);
    await clock.advance(boundary + 1_000, [a.scheduler]);
    expect(await scheduledTicks()).toEqual([{ tick: new Date(boundary).toISOString(), commit: head }]);

    // Down for five and a half minutes, back with --schedule-catch-up 0: the 5-minute tick, 30 s old, is not fired.
    await a.stop();
    controllers.splice(controllers.indexOf(a), 1);
    clock.t = boundary + 5 * MIN + 30_000;
    const b = await start(clock, mirrors, 0);
    await b.scheduler.settled();
    expect(await scheduledTicks()).toHaveLength(1);
    await clock.advance(boundary + 6 * MIN + 1_000, [b.scheduler]);
    expect((await scheduledTicks()).map((t) => t.tick)).toEqual([boundary, boundary + 6 * MIN].map((t) => new Date(t).toISOString()));
  });
});
