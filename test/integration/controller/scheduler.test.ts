/**
 * The schedule loop on a real PostgreSQL database, with a fake clock: the
 * test moves time and fires the loop's timers, so no test waits for a real
 * minute and nothing depends on the wall clock. Each scheduler has its own
 * store (its own connection), as separate controller processes would.
 */
import { sql } from "kysely";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { Scheduler, type Clock, type ScheduledJob } from "../../../controller/scheduler/scheduler.js";
import { openStore, type Store } from "../../../controller/store/db.js";
import { insertRun, type Writer } from "../../../controller/store/runs.js";
import { lastClaimedTick } from "../../../controller/store/schedules.js";
import { createTestStore, withAdminClient, type TestStore } from "../../helpers/db.js";
import { FakeClock, MIN } from "../../helpers/fake-clock.js";

const HOUR = 60 * MIN;
const T0 = new Date("2026-06-01T10:00:00Z").getTime();


/** A scheduled job whose runs are plain queued runs named after it. */
function job(key: string, cron: string[], over: Partial<ScheduledJob> = {}): ScheduledJob {
  return {
    key,
    cron,
    since: new Date(T0 - HOUR),
    submit: async (w: Writer, tick: Date) =>
      (await insertRun(w, { jobName: key, job: { name: key, tick: tick.toISOString() }, selector: {}, priority: 0, source: "schedule" })).run.id,
    ...over,
  };
}

describe("scheduler on PostgreSQL", () => {
  let base: TestStore;
  const opened: Store[] = [];
  const running: Scheduler[] = [];

  async function controllerStore(): Promise<Store> {
    const s = await openStore({ databaseUrl: base.url!, migrate: false, poolSize: 1 });
    opened.push(s);
    return s;
  }
  function scheduler(store: Store, clock: Clock, jobs: ScheduledJob[], errors: unknown[] = []): Scheduler {
    const s = new Scheduler({ store, clock, jobs: async () => jobs, onError: (e) => void errors.push(e) });
    running.push(s);
    return s;
  }
  /** (job, tick) of every run, oldest first. */
  async function runsByTick(): Promise<string[]> {
    const rows = await base.db.selectFrom("runs").select(["job_name", "job"]).orderBy("id").execute();
    return rows.map((r) => `${r.job_name}@${(r.job as { tick: string }).tick}`);
  }

  beforeAll(async () => {
    base = await createTestStore("postgres");
  });
  afterAll(async () => {
    await base?.dispose();
  });
  beforeEach(async () => {
    await sql`truncate log_chunks, runs, agents restart identity cascade`.execute(base.db);
  });
  afterEach(async () => {
    await Promise.all(running.splice(0).map((s) => s.stop()));
    await Promise.all(opened.splice(0).map((s) => s.close()));
  });

  it("two controllers on one database fire each tick once", async () => {
    const clock = new FakeClock(T0 + 5_000);
    const jobs = [job("every-minute", ["* * * * *"]), job("every-5", ["*/5 * * * *"]), job("two-exprs", ["*/10 * * * *", "*/15 * * * *"])];
    const [sa, sb] = [await controllerStore(), await controllerStore()];
    const fired: string[][] = [[], []];
    const a = new Scheduler({ store: sa, clock, jobs: async () => jobs, onFired: (k, t) => void fired[0]!.push(`${k}@${t.toISOString()}`) });
    const b = new Scheduler({ store: sb, clock, jobs: async () => jobs, onFired: (k, t) => void fired[1]!.push(`${k}@${t.toISOString()}`) });
    running.push(a, b);
    await Promise.all([a.start(), b.start()]);
    // The 10:00 tick is 5 s old and was never claimed: both catch it up, one wins.
    await clock.advance(T0 + 30 * MIN + 5_000, [a, b]);

    const want: string[] = [];
    for (let m = 0; m <= 30; m++) {
      const at = new Date(T0 + m * MIN).toISOString();
      want.push(`every-minute@${at}`);
      if (m % 5 === 0) want.push(`every-5@${at}`);
      if (m % 10 === 0 || m % 15 === 0) want.push(`two-exprs@${at}`); // 10:30 matches both: one tick
    }
    const got = await runsByTick();
    expect([...got].sort()).toEqual([...want].sort());
    expect(new Set(got).size).toBe(got.length);
    // Each controller was told only of the ticks it won, and together of all.
    expect([...fired[0]!, ...fired[1]!].sort()).toEqual([...want].sort());
    // Both really took part: each woke for every tick, and each won some (the database chose).
    expect(fired[0]!.length).toBeGreaterThan(0);
    expect(fired[1]!.length).toBeGreaterThan(0);
  });

  it("a controller killed during its claim (rolled back) leaves the tick to another, which fires it once; restarted, it does not fire it again", async () => {
    const clock = new FakeClock(T0 - 30_000); // 09:59:30
    const sa = await controllerStore();
    let entered!: () => void;
    const inside = new Promise<void>((r) => (entered = r));
    let unblock!: () => void;
    const hang = new Promise<string>((r) => (unblock = () => r("0"))); // the process dies before this
    const errorsA: unknown[] = [];
    const jobsA = [job("nightly", ["0 10 * * *"], { submit: async (w, tick) => (await job("nightly", []).submit(w, tick), entered(), hang) })];
    const a = scheduler(sa, clock, jobsA, errorsA);
    await a.start();
    expect(a.nextWakeAt).toEqual(new Date(T0));

    // 10:00: A wakes, claims, creates the run... and dies before committing.
    clock.t = T0;
    const advancing = clock.advance(T0, []);
    await inside;
    await advancing;
    // The process dies: PostgreSQL sees its connection end and rolls its transaction back.
    const killed = await withAdminClient((c) =>
      c.query(
        "select pg_terminate_backend(pid) from pg_stat_activity where datname = $1 and state = 'idle in transaction'",
        [new URL(base.url!).pathname.slice(1)],
      ),
    );
    expect(killed.rowCount).toBe(1);
    // Let A's code run on so this test process can close its connection: its
    // next statement meets the dead connection, and nothing was committed.
    unblock();
    await a.stop();
    expect(errorsA).toHaveLength(1);
    expect(await runsByTick()).toEqual([]);
    expect(await lastClaimedTick(base.db, "nightly")).toBeNull();

    // B starts (or was running and wakes) 20 s later: the tick is due and unclaimed.
    clock.t = T0 + 20_000;
    const b = scheduler(await controllerStore(), clock, [job("nightly", ["0 10 * * *"])]);
    await b.start();
    expect(await runsByTick()).toEqual([`nightly@${new Date(T0).toISOString()}`]);
    await b.stop();

    // A restarts at 10:01: the tick is claimed, nothing fires.
    clock.t = T0 + MIN;
    const a2 = scheduler(await controllerStore(), clock, [job("nightly", ["0 10 * * *"])]);
    await a2.start();
    expect(await runsByTick()).toHaveLength(1);
    expect(a2.nextWakeAt).toEqual(new Date(T0 + 2 * MIN)); // a minute at most, then it looks again
  });

  it("a controller that claimed and committed, then restarted across the tick, does not fire it again", async () => {
    const clock = new FakeClock(T0 - 10_000);
    const a = scheduler(await controllerStore(), clock, [job("hourly", ["0 * * * *"])]);
    await a.start();
    await clock.advance(T0 + 1_000, [a]);
    expect(await runsByTick()).toEqual([`hourly@${new Date(T0).toISOString()}`]);
    await a.stop(); // the controller goes down right after the tick

    clock.t = T0 + 2_000; // and is back two seconds later
    const a2 = scheduler(await controllerStore(), clock, [job("hourly", ["0 * * * *"])]);
    await a2.start();
    await clock.advance(T0 + HOUR + 1_000, [a2]);
    expect(await runsByTick()).toEqual([`hourly@${new Date(T0).toISOString()}`, `hourly@${new Date(T0 + HOUR).toISOString()}`]);
  });

  it("after downtime fires only the last missed tick, once, and only within the catch-up window", async () => {
    const clock = new FakeClock(T0 - 10_000);
    const jobs = [job("hourly", ["0 * * * *"]), job("daily-12", ["0 12 * * *"])];
    const a = scheduler(await controllerStore(), clock, jobs);
    await a.start();
    await clock.advance(T0 + 1_000, [a]); // 10:00 fires for hourly
    await a.stop();

    // Down from 10:00:01 to 13:20: hourly missed 11:00, 12:00 and 13:00; daily-12 missed 12:00.
    clock.t = T0 + 3 * HOUR + 20 * MIN;
    const a2 = scheduler(await controllerStore(), clock, jobs);
    await a2.start();
    expect(await runsByTick()).toEqual([`hourly@${new Date(T0).toISOString()}`, `hourly@${new Date(T0 + 3 * HOUR).toISOString()}`]);
    // Only hourly's 13:00 fired; daily-12's 12:00 is 1 h 20 min old, outside the 1 h window: skipped.
    await clock.advance(T0 + 4 * HOUR + 1_000, [a2]);
    expect((await runsByTick()).slice(2)).toEqual([`hourly@${new Date(T0 + 4 * HOUR).toISOString()}`]); // 14:00, as usual
  });

  it("a job never fired before does not catch up ticks from before it was first seen", async () => {
    const clock = new FakeClock(T0 + 10 * MIN);
    const a = scheduler(await controllerStore(), clock, [job("new", ["0 * * * *"], { since: undefined })]);
    await a.start();
    expect(await runsByTick()).toEqual([]); // 10:00 was before this controller knew the job
    await clock.advance(T0 + HOUR, [a]);
    expect(await runsByTick()).toEqual([`new@${new Date(T0 + HOUR).toISOString()}`]);
  });

  it("stops: no timer left, no pass after", async () => {
    const clock = new FakeClock(T0);
    const a = scheduler(await controllerStore(), clock, [job("every-minute", ["* * * * *"])]);
    await a.start();
    expect(clock.pending).toBe(1);
    await a.stop();
    expect(clock.pending).toBe(0);
    a.poke();
    await clock.advance(T0 + 5 * MIN, [a]);
    expect(await runsByTick()).toHaveLength(1); // only the 10:00 tick, claimed by start()
  });

  it("a failing submit is reported and retried while the tick is within the window", async () => {
    const clock = new FakeClock(T0 - 1_000);
    let failures = 1;
    const errors: unknown[] = [];
    const flaky = job("flaky", ["0 10 * * *"]);
    const a = scheduler(await controllerStore(), clock, [
      {
        ...flaky,
        submit: async (w, t) => {
          if (failures-- > 0) throw new Error("database hiccup");
          return flaky.submit(w, t);
        },
      },
    ], errors);
    await a.start();
    await clock.advance(T0 + 10_000, [a]);
    expect(errors.map((e) => (e as Error).message)).toEqual(["database hiccup"]);
    expect(await runsByTick()).toEqual([`flaky@${new Date(T0).toISOString()}`]);
  });
});
