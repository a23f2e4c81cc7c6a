/**
 * The `hodei watch` app (cli/tui/) rendered by ink-testing-library, fed by a
 * real controller over loopback gRPC on real PostgreSQL: nothing between the
 * TUI and the controller is faked. There is no agent: the test plays one by
 * writing what an agent's reports write (store functions: claim, start, log
 * chunks, finish), which announce themselves on the bus as the agent's would.
 * Every wait is on a condition of the rendered frame.
 */
import { createElement } from "react";
import { render } from "ink-testing-library";
import { sql } from "kysely";
import { pino } from "pino";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { ControlClient } from "../../../cli/client.js";
import { WatchApp, type WatchProps } from "../../../cli/tui/app.js";
import { startController, type Controller } from "../../../controller/server.js";
import { openStore } from "../../../controller/store/db.js";
import { claimRuns, insertRun, markStarted } from "../../../controller/store/runs.js";
import { appendChunks } from "../../../controller/store/logs.js";
import { finishAttempt } from "../../../controller/store/attempts.js";
import { recordHeartbeat, setAgentState, upsertAgent } from "../../../controller/store/agents.js";
import type { Run } from "../../../proto/gen/hodei/v1/control.js";
import { createTestStore, type TestStore } from "../../helpers/db.js";

const KEY = { up: "\x1b[A", down: "\x1b[B", enter: "\r", esc: "\x1b", pgUp: "\x1b[5~", pgDn: "\x1b[6~" };
const job = (name: string): string => JSON.stringify({ apiVersion: "hodei.dev/v1", kind: "Job", metadata: { name }, spec: { run: "echo hi" } });
// eslint-disable-next-line no-control-regex
const plain = (s: string | undefined): string => (s ?? "").replace(/\x1b\[[0-9;]*m/g, "");

let store: TestStore;
let controller: Controller;
let admin: ControlClient;
let agentId: string;
let apps: ReturnType<typeof render>[] = [];
const seq = new Map<string, number>();
const extraStores: { close(): Promise<void> }[] = [];

function mount(props: Partial<WatchProps> = {}, client = admin): ReturnType<typeof render> {
  const app = render(createElement(WatchApp, { client, color: true, size: { width: 100, height: 30 }, ...props }));
  apps.push(app);
  return app;
}

/** Waits until the latest frame satisfies `ok` (generous deadline; the failure shows the frame). */
async function frame(app: ReturnType<typeof render>, ok: (f: string) => boolean, what = "the expected frame"): Promise<string> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const f = plain(app.lastFrame());
    if (ok(f)) return f;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; last frame:\n${f}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
const shows = (app: ReturnType<typeof render>, text: string | RegExp): Promise<string> => frame(app, (f) => (typeof text === "string" ? f.includes(text) : text.test(f)), String(text));

/** Types keys one at a time, as a person does (ink reads each write as one input). */
async function keys(app: ReturnType<typeof render>, ...ks: string[]): Promise<void> {
  for (const k of ks) {
    app.stdin.write(k);
    await new Promise((r) => setTimeout(r, 30));
  }
}

async function submit(name: string): Promise<Run> {
  return admin.submitRun({ jobJson: job(name), source: `${name}.yaml`, idempotencyKey: "" });
}

/** Plays the agent: claim the queued runs, start this one. */
async function start(id: string, attempt = 1): Promise<void> {
  await claimRuns(store, agentId, {}, 100);
  await markStarted(store, id, attempt, new Date());
}

async function log(id: string, text: string, attempt = 1): Promise<void> {
  const k = `${id}/${attempt}`;
  const n = seq.get(k) ?? 0;
  seq.set(k, n + 1);
  await appendChunks(store, id, attempt, [{ seq: n, stream: 1, data: Buffer.from(text), tsMs: Date.now() }]);
}

beforeAll(async () => {
  store = await createTestStore("postgres");
  // The test plays an agent this controller never hears from: long heartbeats keep it from being judged lost.
  controller = await startController({ store, listen: "127.0.0.1:0", heartbeatIntervalMs: 600_000, logger: pino({ level: "silent" }) });
  admin = new ControlClient(controller.address);
  agentId = (await upsertAgent(store.db, { id: "00000000-0000-4000-8000-0000000000b1", name: "tui-agent", labels: { os: "linux", pool: "ci" }, slots: 4, version: "t", killMethod: "group" })).id;
});
afterEach(() => {
  for (const a of apps) a.unmount();
  apps = [];
});
afterAll(async () => {
  admin?.close();
  await controller?.stop();
  for (const s of extraStores) await s.close();
  await store?.dispose();
});

describe("hodei watch (ink)", () => {
  it("shows runs with a status symbol, moves with j/k and arrows, and enter opens the selected run's log", async () => {
    const a = await submit("nav-a");
    const b = await submit("nav-b");
    const app = mount();
    let f = await shows(app, "nav-b");
    expect(f).toContain("○ queued");
    expect(f).toMatch(/hodei watch .*queued/);
    // The newest run is first and selected; j moves down to the older one.
    const selected = (id: string) => new RegExp(`› . \\w+\\s+${id} `);
    await shows(app, selected(b.id));
    await keys(app, "j");
    await shows(app, selected(a.id));
    await keys(app, KEY.enter);
    await shows(app, `run ${a.id} nav-a`);
    await keys(app, KEY.esc);
    await shows(app, selected(a.id));
    await keys(app, KEY.up);
    await shows(app, selected(b.id));
    await keys(app, KEY.down);
    await shows(app, selected(a.id));
    await keys(app, "k");
    await shows(app, selected(b.id));
    await keys(app, KEY.enter);
    await shows(app, `run ${b.id} nav-b`);
    await keys(app, KEY.esc);
    await shows(app, "STATUS");
    await keys(app, "?");
    f = await shows(app, "keys");
    for (const k of ["enter", "cancel", "rerun", "agents", "timestamps", "attempt", "quit"]) expect(f).toContain(k);
    await admin.cancelRun(a.id);
    await admin.cancelRun(b.id);
  });

  it("filters by text (/) and cycles a state filter (s); esc clears", async () => {
    const keep = await submit("filter-alpha");
    await submit("filter-beta");
    const done = await submit("filter-alpha-done");
    await admin.cancelRun(done.id);
    const app = mount();
    await shows(app, "filter-beta");
    await keys(app, "/", ..."alpha", KEY.enter);
    let f = await frame(app, (x) => !x.includes("filter-beta") && x.includes("filter-alpha"), "text filter");
    expect(f).toContain("filter: /alpha");
    expect(f).toContain("done/min");
    await keys(app, "s");
    f = await frame(app, (x) => x.includes("state=queued") && !x.includes("filter-alpha-done"), "state filter queued");
    expect(f).toContain(`${keep.id} filter-alpha`);
    for (let i = 0; i < 5; i++) await keys(app, "s");
    f = await frame(app, (x) => x.includes("state=cancelled"), "state filter cancelled");
    expect(f).toContain("filter-alpha-done");
    expect(f).not.toMatch(/○ queued .*filter-alpha /);
    await keys(app, KEY.esc);
    await frame(app, (x) => x.includes("filter-beta") && !x.includes("filter:"), "filters cleared");
    for (const r of await admin.listRuns({ states: ["queued"] })) await admin.cancelRun(r.id);
  });

  it("the log pane follows a live stream with colours and \\r progress drawn as a terminal does; timestamps toggle", async () => {
    const run = await submit("live-log");
    await start(run.id);
    const app = mount({ openRun: run.id });
    await shows(app, `run ${run.id} live-log`);
    await log(run.id, "\x1b[32mgreen line\x1b[0m\nprogress 10%\rprogress 50%\rprogress 100%\n");
    const f = await shows(app, "progress 100%");
    expect(f).not.toContain("progress 10%");
    expect(app.lastFrame()).toMatch(new RegExp(`${"\\x1b"}\\[[0-9;]*32m.*green line`));
    await log(run.id, "more output arrives\n");
    await shows(app, "more output arrives");
    await keys(app, "t");
    await shows(app, /\d\d:\d\d:\d\d\.\d{3} more output arrives/);
    await finishAttempt(store, run.id, 1, { reason: "exited", exitCode: 0, signal: null, message: "", at: new Date() });
    await shows(app, "✔ succeeded");
  });

  it("scrolls back (PgUp, g) and returns to following (G); follows new lines only at the bottom", async () => {
    const run = await submit("scroll");
    await start(run.id);
    await log(run.id, Array.from({ length: 200 }, (_, i) => `line ${String(i + 1).padStart(4, "0")}`).join("\n") + "\n");
    const app = mount({ openRun: run.id });
    let f = await shows(app, "line 0200");
    expect(f).toContain("following");
    await keys(app, KEY.pgUp);
    await frame(app, (x) => !x.includes("line 0200") && x.includes("line 0170"), "a page up");
    await log(run.id, "late line\n");
    // Not following while scrolled back: the new line does not pull the view down.
    await new Promise((r) => setTimeout(r, 300));
    expect(plain(app.lastFrame())).not.toContain("late line");
    await keys(app, "g");
    await shows(app, "line 0001");
    await keys(app, "G");
    f = await shows(app, "late line");
    expect(f).toContain("following");
    await admin.cancelRun(run.id);
  });

  it("searches the log (/, n, N)", async () => {
    const run = await submit("search");
    await start(run.id);
    await log(run.id, Array.from({ length: 100 }, (_, i) => (i === 10 || i === 80 ? `NEEDLE at ${i}` : `hay ${i}`)).join("\n") + "\n");
    const app = mount({ openRun: run.id });
    await shows(app, "hay 99");
    // Searching starts from the lines in view (here the end), as less does; n wraps around.
    await keys(app, "/", ..."needle", KEY.enter);
    let f = await shows(app, "match 2/2");
    expect(f).toContain("NEEDLE at 80");
    await keys(app, "n");
    f = await shows(app, "match 1/2");
    expect(f).toContain("NEEDLE at 10");
    expect(f).not.toContain("hay 99");
    await keys(app, "N");
    f = await shows(app, "match 2/2");
    expect(f).toContain("NEEDLE at 80");
    await keys(app, "/", ..."nothing-like-this", KEY.enter);
    await shows(app, "no match");
    await admin.cancelRun(run.id);
  });

  it("switches attempts with [ and ], and moves to a new attempt as it starts", async () => {
    // A job with retries: the store takes the retrying path only for such a job.
    const run = await admin.submitRun({ jobJson: JSON.stringify({ apiVersion: "hodei.dev/v1", kind: "Job", metadata: { name: "attempts" }, spec: { run: "echo hi", retries: { limit: 2 } } }), source: "t", idempotencyKey: "" });
    await start(run.id);
    await log(run.id, "from the first attempt\n");
    const app = mount({ openRun: run.id });
    await shows(app, "from the first attempt");
    await finishAttempt(store, run.id, 1, { reason: "infrastructure", exitCode: null, signal: null, message: "lost", at: new Date() }, { mayRetry: true, decide: () => ({ retry: true, delayMs: 0 }) });
    await start(run.id, 2);
    await log(run.id, "from the second attempt\n", 2);
    let f = await shows(app, "from the second attempt");
    expect(f).toContain("attempt 2/2");
    await keys(app, "[");
    f = await shows(app, "from the first attempt");
    expect(f).toContain("attempt 1/2");
    await keys(app, "]");
    await shows(app, "from the second attempt");
    await admin.cancelRun(run.id);
  });

  it("c asks before cancelling: n keeps the run, y cancels it", async () => {
    const run = await submit("to-cancel");
    const app = mount();
    await shows(app, "to-cancel");
    await keys(app, "c");
    await shows(app, `cancel run ${run.id} (to-cancel)? y/n`);
    await keys(app, "n");
    await shows(app, "not cancelled");
    expect((await admin.getRun(run.id)).state).toBe("queued");
    await keys(app, "c", "y");
    await shows(app, /⊘ cancelled\s+\d+ to-cancel/);
    expect((await admin.getRun(run.id)).state).toBe("cancelled");
    await keys(app, "r");
    const f = await shows(app, /run \d+ started \(rerun of/);
    const newId = /run (\d+) started/.exec(f)![1]!;
    await admin.cancelRun(newId);
  });

  it("a toggles the agents panel: labels, slots, CPU, memory, heartbeat, draining", async () => {
    await recordHeartbeat(store.db, agentId, { cpuPercent: 37, memoryUsedBytes: 512 * 1024 * 1024, memoryTotalBytes: 2 * 1024 * 1024 * 1024 });
    const app = mount();
    await shows(app, "STATUS");
    await keys(app, "a");
    const f = await shows(app, "os=linux,pool=ci");
    expect(f).toContain("0/4");
    expect(f).toContain("37%");
    expect(f).toContain("512MiB/2.0GiB");
    expect(f).toMatch(/\d+s ago/);
    await setAgentState(store.db, agentId, "draining");
    await shows(app, "draining");
    await setAgentState(store.db, agentId, "connected");
    await keys(app, "a");
    await frame(app, (x) => !x.includes("os=linux,pool=ci"), "the panel hidden");
  });

  it("renders only the visible rows of 10,000 runs, and moves through them", async () => {
    await sql`insert into runs (job_name, state, job, source, started_at, finished_at, exit_code, reason)
      select 'bulk-' || g, 'succeeded', '{}'::jsonb, 'bulk', now() - interval '3 seconds', now(), 0, 'exited' from generate_series(1, 10000) g`.execute(store.db);
    await sql`update runs set trigger = '{"event":"push","repo":"acme-web","commit":"abcdef1234567890"}'::jsonb where job_name = 'bulk-10000'`.execute(store.db);
    const app = mount({ size: { width: 100, height: 30 } });
    let f = await shows(app, "bulk-10000");
    // A repo's run shows its repo, its trigger and the short commit.
    expect(f).toMatch(/bulk-10000\s+acme-web\s+push abcdef1 /);
    expect(f.split("\n").length).toBeLessThanOrEqual(29);
    const rows = f.split("\n").filter((l) => l.includes("bulk-"));
    expect(rows.length).toBeGreaterThan(10);
    expect(rows.length).toBeLessThan(30);
    // The sparkline counts them in this minute.
    expect(f).toMatch(/✔ \d{5} succeeded/);
    await keys(app, "G");
    f = await shows(app, "bulk-1 ");
    expect(f.split("\n").filter((l) => l.includes("bulk-")).length).toBe(rows.length);
    await keys(app, "/", ..."bulk-5000", KEY.enter);
    await frame(app, (x) => x.includes("bulk-5000") && !x.includes("bulk-9999"), "filtered to one");
  });

  it("re-lays out for a narrow terminal", async () => {
    await submit("narrow-job");
    const app = mount({ size: { width: 100, height: 30 } });
    let f = await shows(app, "narrow-job");
    expect(f).toContain("REPO/SOURCE");
    app.rerender(createElement(WatchApp, { client: admin, color: true, size: { width: 40, height: 20 } }));
    f = await frame(app, (x) => !x.includes("REPO/SOURCE") && x.includes("narrow-job"), "the narrow layout");
    for (const line of f.split("\n")) expect([...line].length).toBeLessThanOrEqual(40);
  });

  it("caps a log's memory with a note, and g loads the start of the log again", async () => {
    const run = await submit("big-log");
    await start(run.id);
    await log(run.id, Array.from({ length: 400 }, (_, i) => `row ${String(i + 1).padStart(4, "0")}`).join("\n") + "\n");
    const app = mount({ openRun: run.id, maxLogLines: 120 });
    let f = await shows(app, "row 0400");
    expect(f).toMatch(/… \d+ earlier lines on disk — press g to load/);
    await keys(app, "g");
    f = await shows(app, "row 0001");
    expect(f).toContain("the start of the log");
    await keys(app, "G");
    await shows(app, "row 0400");
    await admin.cancelRun(run.id);
  });

  it("stays responsive while 10 MB of log arrive: memory stays capped (a note says so), keys answer", async () => {
    const run = await submit("flood");
    await start(run.id);
    const app = mount({ openRun: run.id, maxLogLines: 2000 });
    await shows(app, `run ${run.id} flood`);
    const line = "\x1b[32mok\x1b[0m " + "x".repeat(95) + "\n";
    // 1,000 chunks of 10 KB stored at once, as a flooding agent's batches: they reach the pane back to back.
    const chunks = Array.from({ length: 1000 }, (_, i) => ({ seq: i, stream: 1, data: Buffer.from(`${line.repeat(100)}block ${i} done\n`), tsMs: Date.now() }));
    for (let i = 0; i < chunks.length; i += 250) await appendChunks(store, run.id, 1, chunks.slice(i, i + 250));
    const f = await shows(app, "block 999 done");
    expect(f).toMatch(/earlier lines on disk — press g to load/);
    await keys(app, "t");
    await shows(app, /\d\d:\d\d:\d\d\.\d{3} block 999 done/);
    await admin.cancelRun(run.id);
  });

  it("--job follows the newest run of a job, switching to a newer one as it appears", async () => {
    const app = mount({ job: "follow-me" });
    const first = await submit("follow-me");
    await start(first.id);
    await log(first.id, "first run output\n");
    await shows(app, "first run output");
    expect(plain(app.lastFrame())).toContain(`run ${first.id} follow-me`);
    await submit("someone-else");
    const second = await submit("follow-me");
    await shows(app, `run ${second.id} follow-me`);
    await admin.cancelRun(first.id);
    await admin.cancelRun(second.id);
    for (const r of await admin.listRuns({ states: ["queued"] })) await admin.cancelRun(r.id);
  });

  it("says when the controller goes away and reconnects by itself, missing nothing meanwhile", async () => {
    const before = await submit("outage-before");
    const app = mount();
    await shows(app, "outage-before");
    const address = controller.address;
    await controller.stop();
    await shows(app, "controller unreachable");
    // Meanwhile a run is submitted to the database (by another controller, say) and the old one is cancelled.
    const side = await openStore({ databaseUrl: store.url!, migrate: false });
    extraStores.push(side);
    const { run: during } = await insertRun(side, { jobName: "outage-during", job: JSON.parse(job("outage-during")), selector: {}, priority: 0, source: "t" });
    await sql`update runs set state = 'cancelled', finished_at = now(), reason = 'cancelled' where id = ${before.id}`.execute(side.db);
    controller = await startController({ store: side, listen: address, heartbeatIntervalMs: 600_000, logger: pino({ level: "silent" }) });
    const f = await frame(app, (x) => !x.includes("controller unreachable") && x.includes("outage-during"), "reconnected");
    expect(f).toMatch(new RegExp(`⊘ cancelled\\s+${before.id} outage-before`));
    expect(f).toContain(`${during.id} outage-during`);
    await admin.cancelRun(during.id);
  });
});
