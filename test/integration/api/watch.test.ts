/**
 * WatchRuns and WatchAgents through a real controller over loopback gRPC, on
 * real PostgreSQL and PGlite: the snapshot, then live changes named by kind;
 * filters; a resume point that misses nothing (on PostgreSQL also a change
 * committed after a later one, out of order); project scoping; and bad input
 * (filters, hostile resume tokens) refused with INVALID_ARGUMENT.
 */
import { status } from "@grpc/grpc-js";
import type * as grpc from "@grpc/grpc-js";
import pg from "pg";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ControlClient } from "../../../cli/client.js";
import { startController, type Controller } from "../../../controller/server.js";
import { claimRuns, markStarted } from "../../../controller/store/runs.js";
import { upsertAgent } from "../../../controller/store/agents.js";
import { finishAttempt } from "../../../controller/store/attempts.js";
import type { AgentWatchEvent, RunWatchEvent, WatchRunsRequest } from "../../../proto/gen/hodei/v1/control.js";
import { DIALECTS, createTestStore, type TestStore } from "../../helpers/db.js";

const job = (name: string): string => JSON.stringify({ apiVersion: "hodei.dev/v1", kind: "Job", metadata: { name }, spec: { run: "echo hi" } });
const WAIT_MS = 20_000;

/** Reads a stream's events into a list; `until` waits for one matching (or the stream's error). */
class Reader<T> {
  readonly events: T[] = [];
  error?: grpc.ServiceError;
  private waiters: (() => void)[] = [];
  constructor(readonly stream: grpc.ClientReadableStream<T>) {
    stream.on("data", (e: T) => {
      this.events.push(e);
      this.wake();
    });
    stream.on("error", (err: grpc.ServiceError) => {
      this.error = err;
      this.wake();
    });
    stream.on("end", () => this.wake());
  }
  private wake(): void {
    for (const w of this.waiters.splice(0)) w();
  }
  /** The first event from `from` on that matches; fails on the stream's error or after a generous deadline. */
  async until(match: (e: T) => boolean, from = 0): Promise<T> {
    const deadline = Date.now() + WAIT_MS;
    for (;;) {
      const found = this.events.slice(from).find(match);
      if (found) return found;
      if (this.error) throw this.error;
      if (Date.now() > deadline) throw new Error(`no matching event; got ${JSON.stringify(this.events.map((e) => (e as { kind: string }).kind))}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, 1000);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }
  async failure(): Promise<grpc.ServiceError> {
    await this.until(() => false).catch(() => {});
    if (!this.error) throw new Error("the stream did not fail");
    return this.error;
  }
  close(): void {
    this.stream.cancel();
  }
}

const lastToken = (events: RunWatchEvent[]): string => [...events].reverse().find((e) => e.resumeToken)?.resumeToken ?? "";

describe.each(DIALECTS)("watch streams (%s)", (dialect) => {
  let store: TestStore;
  let controller: Controller;
  let admin: ControlClient;
  const readers: Reader<unknown>[] = [];
  const clients: ControlClient[] = [];

  const watch = (req: Partial<WatchRunsRequest>, client = admin): Reader<RunWatchEvent> => {
    const r = new Reader(client.openWatchRuns(req));
    readers.push(r as Reader<unknown>);
    return r;
  };

  beforeAll(async () => {
    store = await createTestStore(dialect);
    controller = await startController({ store, listen: "127.0.0.1:0", logger: pino({ level: "silent" }) });
    admin = new ControlClient(controller.address);
  });
  afterAll(async () => {
    for (const r of readers) r.close();
    for (const c of clients) c.close();
    admin?.close();
    await controller?.stop();
    await store?.dispose();
  });

  it("sends a snapshot, snapshot_end with a token, then created, assigned, started and finished as they commit", async () => {
    const before = await admin.submitRun({ jobJson: job("snap-a"), source: "t", idempotencyKey: "" });
    const w = watch({ jobs: ["snap-a", "snap-b"] });
    const end = await w.until((e) => e.kind === "snapshot_end");
    expect(end.resumeToken).toMatch(/^w1:/);
    expect(w.events.filter((e) => e.kind === "snapshot").map((e) => e.run!.id)).toEqual([before.id]);

    const run = await admin.submitRun({ jobJson: job("snap-b"), source: "t", idempotencyKey: "" });
    const created = await w.until((e) => e.run?.id === run.id);
    expect(created.kind).toBe("created");
    expect(created.run!.state).toBe("queued");

    const agent = await upsertAgent(store.db, { id: "00000000-0000-4000-8000-00000000a001", name: "watch-agent", labels: {}, slots: 4, version: "t", killMethod: "group" });
    const claimed = await claimRuns(store, agent.id, {}, 10);
    expect(claimed.map((r) => r.id).sort()).toEqual([before.id, run.id].sort());
    const assigned = await w.until((e) => e.run?.id === run.id && e.kind === "assigned");
    expect(assigned.run!.agentName).toBe("watch-agent");
    await markStarted(store, run.id, 1, new Date());
    expect((await w.until((e) => e.run?.id === run.id && e.kind === "started")).run!.state).toBe("running");
    await finishAttempt(store, run.id, 1, { reason: "exited", exitCode: 0, signal: null, message: "", at: new Date() });
    const fin = await w.until((e) => e.run?.id === run.id && e.kind === "finished");
    expect(fin.run!.state).toBe("succeeded");
    expect(fin.run!.exitCode).toBe(0);
    // Every read ends with a resume token.
    expect(lastToken(w.events)).toMatch(/^w1:/);
    await admin.cancelRun(before.id);
  });

  it("filters by job, state and project; a run leaving the states filter is sent once as left", async () => {
    const byJob = watch({ jobs: ["filter-x"], states: ["queued"] });
    await byJob.until((e) => e.kind === "snapshot_end");
    const other = await admin.submitRun({ jobJson: job("filter-y"), source: "t", idempotencyKey: "" });
    const mine = await admin.submitRun({ jobJson: job("filter-x"), source: "t", idempotencyKey: "" });
    const inWeb = await admin.submitRun({ jobJson: job("filter-x"), source: "t", idempotencyKey: "", project: "web" });
    await byJob.until((e) => e.run?.id === inWeb.id);
    await admin.cancelRun(mine.id);
    const left = await byJob.until((e) => e.run?.id === mine.id && e.kind === "left");
    expect(left.run!.state).toBe("cancelled");
    expect(byJob.events.some((e) => e.run?.id === other.id)).toBe(false);

    const byProject = watch({ projects: ["web"] });
    await byProject.until((e) => e.kind === "snapshot_end");
    expect(byProject.events.filter((e) => e.run).map((e) => e.run!.project)).toEqual(["web"]);
    await admin.cancelRun(inWeb.id);
    await admin.cancelRun(other.id);
    await byProject.until((e) => e.run?.id === inWeb.id && e.kind === "finished");
    // A cancel of a run of another project said nothing to this watcher.
    expect(byProject.events.some((e) => e.run?.id === other.id)).toBe(false);
  });

  it("filters by the repo a run came from", async () => {
    const w = watch({ repos: ["acme-web"] });
    await w.until((e) => e.kind === "snapshot_end");
    const { insertRun } = await import("../../../controller/store/runs.js");
    const mk = (repo: string) => insertRun(store, { jobName: "from-repo", job: JSON.parse(job("from-repo")), selector: {}, priority: 0, source: "t", trigger: { event: "push", repo, ref: "refs/heads/main", commit: "a".repeat(40) } });
    const other = (await mk("acme-api")).run;
    const mine = (await mk("acme-web")).run;
    const got = await w.until((e) => e.run?.id === mine.id);
    expect(got.run!.trigger?.repo).toBe("acme-web");
    await admin.cancelRun(other.id);
    await admin.cancelRun(mine.id);
    await w.until((e) => e.run?.id === mine.id && e.kind === "finished");
    expect(w.events.some((e) => e.run?.id === other.id)).toBe(false);
  });

  it("a watcher that reconnects with its resume token gets every change since, and no snapshot", async () => {
    const first = watch({ jobs: ["resume"] });
    await first.until((e) => e.kind === "snapshot_end");
    const a = await admin.submitRun({ jobJson: job("resume"), source: "t", idempotencyKey: "" });
    await first.until((e) => e.run?.id === a.id);
    const token = lastToken(first.events);
    first.close();
    // While nobody watches: a new run, and a change to a known one.
    const b = await admin.submitRun({ jobJson: job("resume"), source: "t", idempotencyKey: "" });
    await admin.cancelRun(a.id);
    const again = watch({ jobs: ["resume"], resumeToken: token });
    const gotB = await again.until((e) => e.run?.id === b.id);
    const gotA = await again.until((e) => e.run?.id === a.id);
    expect(gotA.run!.state).toBe("cancelled");
    expect(gotB.run!.state).toBe("queued");
    expect(again.events.some((e) => e.kind === "snapshot" || e.kind === "snapshot_end")).toBe(false);
    // And live changes after the catch-up.
    await admin.cancelRun(b.id);
    expect((await again.until((e) => e.run?.id === b.id && e.run.state === "cancelled")).kind).toBe("finished");
  });

  it.runIf(dialect === "postgres")("resume misses nothing when an earlier transaction commits after a later one", async () => {
    const slow = await admin.submitRun({ jobJson: job("order"), source: "t", idempotencyKey: "" });
    const w = watch({ jobs: ["order"] });
    await w.until((e) => e.kind === "snapshot_end");
    const client = new pg.Client({ connectionString: store.url });
    await client.connect();
    try {
      // Transaction 1 takes its id first and changes a run, but has not committed...
      await client.query("begin");
      await client.query("update runs set cancel_requested = true where id = $1", [slow.id]);
      // ...while a later one commits, and the watcher sees it and takes its token.
      const fast = await admin.submitRun({ jobJson: job("order"), source: "t", idempotencyKey: "" });
      await w.until((e) => e.run?.id === fast.id);
      const token = lastToken(w.events);
      w.close();
      await client.query("commit");
      const again = watch({ jobs: ["order"], resumeToken: token });
      // Nothing announced the raw update: a run event wakes the stream, and its read finds the earlier change.
      const wake = await admin.submitRun({ jobJson: job("order"), source: "t", idempotencyKey: "" });
      await again.until((e) => e.run?.id === wake.id);
      expect(again.events.some((e) => e.run?.id === slow.id), "the out-of-order change").toBe(true);
    } finally {
      await client.end();
    }
  });

  it("a project-scoped viewer sees only its projects' runs, even when it asks for others", async () => {
    const t = await admin.createToken({ name: "watch-viewer-web", role: "viewer", projects: ["web"], expiresInMs: 0 });
    const viewer = new ControlClient(controller.address, undefined, t.token);
    clients.push(viewer);
    const w = watch({ projects: ["default", "web"] }, viewer);
    await w.until((e) => e.kind === "snapshot_end");
    const hidden = await admin.submitRun({ jobJson: job("scoped"), source: "t", idempotencyKey: "" });
    const seen = await admin.submitRun({ jobJson: job("scoped"), source: "t", idempotencyKey: "", project: "web" });
    await w.until((e) => e.run?.id === seen.id);
    await admin.cancelRun(hidden.id);
    await admin.cancelRun(seen.id);
    await w.until((e) => e.run?.id === seen.id && e.kind === "finished");
    const projects = new Set(w.events.filter((e) => e.run).map((e) => e.run!.project));
    expect(projects).toEqual(new Set(["web"]));
    const only = watch({ projects: ["default"] }, viewer);
    await only.until((e) => e.kind === "snapshot_end");
    expect(only.events.filter((e) => e.run)).toEqual([]);
  });

  it("refuses bad filters and hostile resume tokens with INVALID_ARGUMENT", async () => {
    const cur = lastToken((await (async () => {
      const w = watch({});
      await w.until((e) => e.kind === "snapshot_end");
      w.close();
      return w.events;
    })()));
    const [xmin, xmax] = cur.slice(3).split(":");
    const bad: Partial<WatchRunsRequest>[] = [
      { states: ["exploded"] },
      { projects: ["Not A Project"] },
      { jobs: ["x".repeat(201)] },
      { jobs: [""] },
      { repos: Array.from({ length: 101 }, (_, i) => `r${i}`) },
      { snapshotLimit: 10_001 },
      { snapshotLimit: -1 },
      { resumeToken: "garbage" },
      { resumeToken: "w1:" },
      { resumeToken: "w1:1:2:3" },
      { resumeToken: "w1:5:3:" },
      { resumeToken: "w1:0:0:" },
      { resumeToken: "w1:1:99999999999999999999:" },
      { resumeToken: `w1:${xmin}:${BigInt(xmax!) + 1_000_000n}:` },
      { resumeToken: "w1:1:2:'); drop table runs; --" },
      { resumeToken: `w1:1:${"9".repeat(5000)}:` },
      { resumeToken: "w1:" + "1:".repeat(100_000) },
    ];
    for (const req of bad) {
      const err = await watch(req).failure();
      expect(err.code, JSON.stringify(req).slice(0, 100)).toBe(status.INVALID_ARGUMENT);
    }
    const agents = new Reader(admin.openWatchAgents({ agentRefreshMs: 5 }));
    readers.push(agents as Reader<unknown>);
    expect((await agents.failure()).code).toBe(status.INVALID_ARGUMENT);
    // The runs table is still there and the controller still answers.
    expect((await admin.listRuns({ limit: 1 })).length).toBe(1);
  });

  it("WatchAgents: snapshot, then connected, heartbeat, draining and lost", async () => {
    const w = new Reader<AgentWatchEvent>(admin.openWatchAgents({ agentRefreshMs: 200 }));
    readers.push(w as Reader<unknown>);
    await w.until((e) => e.kind === "snapshot_end");
    // An agent row's state as the registry of another controller would leave it: draining, then gone.
    const row = await upsertAgent(store.db, { id: "00000000-0000-4000-8000-00000000a002", name: "agent-two", labels: { os: "linux" }, slots: 2, version: "t", killMethod: "group" });
    const seen = await w.until((e) => e.agent?.name === "agent-two");
    // Not connected to this controller: shown as disconnected (agents/convert.ts).
    expect(seen.agent!.labels).toEqual({ os: "linux" });
    const { recordHeartbeat, setAgentState } = await import("../../../controller/store/agents.js");
    const from = w.events.length;
    await recordHeartbeat(store.db, row.id, { cpuPercent: 42, memoryUsedBytes: 1000, memoryTotalBytes: 2000 });
    const hb = await w.until((e) => e.agent?.name === "agent-two" && e.agent.cpuPercent === 42, from);
    expect(hb.kind).toBe("heartbeat");
    const from2 = w.events.length;
    await setAgentState(store.db, row.id, "draining");
    expect((await w.until((e) => e.agent?.name === "agent-two" && e.agent.state === "draining", from2)).kind).toBe("draining");
    const from3 = w.events.length;
    await setAgentState(store.db, row.id, "disconnected");
    expect((await w.until((e) => e.agent?.name === "agent-two" && e.agent.state === "disconnected", from3)).kind).toBe("lost");
  });
});
