/**
 * A standalone controller on real PostgreSQL with two agents, all separate
 * processes, driven by the built `hodei` as a user would.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { writeFileSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { createTestDatabase } from "../helpers/db.js";
import { hodei, hodeiJson, startAgent, startController, tempDir, eventually, isAlive, type ControllerProc, type Proc } from "../helpers/procs.js";
import { floodExpected, firstDifference } from "./floodgen.js";

let db: Awaited<ReturnType<typeof createTestDatabase>>;
let controller: ControllerProc;
const agents: Proc[] = [];
const env = (): NodeJS.ProcessEnv => ({ HODEI_CONTROLLER: controller.address });

beforeAll(async () => {
  db = await createTestDatabase();
  controller = await startController({ databaseUrl: db.url });
  agents.push(await startAgent(controller, { name: "pg-agent-1", slots: 2, labels: "pool=a" }));
  agents.push(await startAgent(controller, { name: "pg-agent-2", slots: 2, labels: "pool=b" }));
});

afterAll(async () => {
  await Promise.all(agents.map((a) => a.stop()));
  await controller?.stop();
  await db?.drop();
});

describe("hodei run against a controller on PostgreSQL", () => {
  it("prints the hello job's output and exits 0", async () => {
    const r = await hodei(["run", "examples/hello/.hodei/jobs/hello.yaml", "--controller", controller.address]);
    expect(r.stderr).not.toContain("Error");
    expect(r.code).toBe(0);
    expect(r.stdout.toString()).toMatch(/hello/i);
  });

  it("exits with the job's exit code (3) and keeps stdout and stderr apart", async () => {
    const r = await hodei(["run", "examples/hello/.hodei/jobs/fail.yaml"], { env: env() });
    expect(r.code).toBe(3);
    const run = (await hodeiJson<{ runs: { state: string; exitCode: number; job: string }[] }>(["runs", "ls", "--job", "fail", "--limit", "1"], { env: env() })).runs[0];
    expect(run).toMatchObject({ state: "failed", exitCode: 3, job: "fail" });
  });

  it("runs a command: job (argv, no shell)", async () => {
    const r = await hodei(["run", "examples/hello/.hodei/jobs/command.yaml"], { env: env() });
    expect(r.code).toBe(0);
    expect(r.stdout.length).toBeGreaterThan(0);
  });

  it("places runs on both agents, and a selector on the agent whose labels match", async () => {
    const results = await Promise.all([1, 2, 3, 4].map(() => hodeiJson<{ agent: string; state: string }>(["run", "test/fixtures/jobs/sleepy.yaml"], { env: env() })));
    expect(results.every((r) => r.state === "succeeded")).toBe(true);
    expect(new Set(results.map((r) => r.agent))).toEqual(new Set(["pg-agent-1", "pg-agent-2"]));

    const dir = tempDir();
    const file = join(dir, "selected.yaml");
    writeFileSync(file, readFileSync("test/fixtures/jobs/sleepy.yaml", "utf8").replace("spec:\n", "spec:\n  selector: { pool: b }\n"));
    for (let i = 0; i < 3; i++) {
      expect(await hodeiJson<{ agent: string }>(["run", file], { env: env() })).toMatchObject({ agent: "pg-agent-2" });
    }
  });

  it("delivers 50 MiB of mixed stdout/stderr complete, byte-exact and in order, live and from the store", async () => {
    const expected = floodExpected();
    const live = await hodei(["run", "test/fixtures/jobs/flood.yaml"], { env: env() });
    expect(live.code).toBe(0);
    expect(firstDifference(live.stdout, expected.stdout)).toBeUndefined();
    // In a pipe hodei says the run id once, first ("hodei: run ID"); its other notes go to stderr only on a terminal or on failure.
    const idLine = /^hodei: run \d+\n/.exec(live.stderr)?.[0] ?? "";
    expect(idLine).not.toBe("");
    expect(firstDifference(live.stderrBytes.subarray(Buffer.byteLength(idLine)), expected.stderr)).toBeUndefined();

    const id = (await hodeiJson<{ runs: { id: string }[] }>(["runs", "ls", "--job", "flood", "--limit", "1"], { env: env() })).runs[0]!.id;
    const stored = await hodei(["logs", id], { env: env() });
    expect(stored.code).toBe(0);
    expect(firstDifference(stored.stdout, expected.stdout)).toBeUndefined();
    expect(firstDifference(stored.stderrBytes, expected.stderr)).toBeUndefined();
  });

  it("cancel stops a running job and its children", async () => {
    const dir = tempDir();
    const pids = join(dir, "pids");
    const file = join(dir, "children.yaml");
    writeFileSync(file, readFileSync("test/fixtures/jobs/children.yaml", "utf8").replace("/tmp/replaced-by-test", pids));
    const submitted = await hodeiJson<{ id: string }>(["run", file, "--detach"], { env: env() });
    await eventually(async () => {
      const r = await controller.client.getRun(submitted.id);
      return r.state === "running" && r.logChunks > 0 ? r : undefined;
    }, "the job to start its children");
    const children = readFileSync(pids, "utf8").trim().split("\n").map(Number);
    expect(children).toHaveLength(2);
    expect(children.every(isAlive)).toBe(true);

    const cancel = await hodeiJson<{ state: string }>(["cancel", submitted.id], { env: env() });
    expect(["running", "cancelled"]).toContain(cancel.state);
    const ended = await eventually(async () => {
      const r = await controller.client.getRun(submitted.id);
      return r.state === "cancelled" ? r : undefined;
    }, "the run to end cancelled");
    expect(ended.reason).toBe("cancelled");
    await eventually(() => (children.some(isAlive) ? undefined : true), "the children to be gone", 15_000);
  });

  it("lists both agents with --json", async () => {
    const { agents: listed } = await hodeiJson<{ agents: { name: string; state: string; slots: number; labels: Record<string, string> }[] }>(["agents", "ls"], { env: env() });
    expect(listed.map((a) => [a.name, a.state, a.slots])).toEqual([
      ["pg-agent-1", "connected", 2],
      ["pg-agent-2", "connected", 2],
    ]);
    expect(listed[1]!.labels).toMatchObject({ pool: "b" });
    // Each agent says how it stops a job's tree (cgroup-v2 on a root machine with cgroup.kill, as CI's).
    const { agents: withKill } = await hodeiJson<{ agents: { killMethod: string }[] }>(["agents", "ls"], { env: env() });
    const method = withKill[0]!.killMethod;
    expect(["cgroup-v2", "cgroup-v1", "process-group"]).toContain(method);
    expect(withKill.map((a) => a.killMethod)).toEqual([method, method]);
    const table = await hodei(["agents", "ls"], { env: env() });
    expect(table.stdout.toString()).toMatch(new RegExp(`pg-agent-1\\s+connected\\s+\\d+/2\\s+\\d+%\\s+\\S+\\s+${method}`));
  });

  it("says clearly when the controller is unreachable, and exits 3", async () => {
    const r = await hodei(["runs", "ls"], { env: { HODEI_CONTROLLER: "127.0.0.1:1" }, timeoutMs: 60_000 });
    expect(r.code).toBe(3);
    expect(r.stderr).toContain("cannot reach the controller at 127.0.0.1:1");
  });
});
