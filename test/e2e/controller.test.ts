/**
 * A standalone `hodei controller` on an embedded PGlite data dir: its lock,
 * following logs, bad flags and a clean SIGTERM, all as separate processes.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { hodei, hodeiJson, startAgent, startController, tempDir, eventually, type ControllerProc, type Proc } from "../helpers/procs.js";

const home = tempDir("hodei-standalone-");
const dbDir = join(home, "db");
let controller: ControllerProc;
let agent: Proc;

beforeAll(async () => {
  controller = await startController({ dataDir: dbDir });
  agent = await startAgent(controller, { name: "standalone-1", slots: 2 });
});

afterAll(async () => {
  await agent?.stop();
  await controller?.stop();
});

const expectedCounter = Array.from({ length: 40 }, (_, i) => `line ${i + 1}\n`).join("");

describe("hodei controller --data-dir", () => {
  it("holds the data dir: a second controller on it is refused, naming the holder", async () => {
    expect(existsSync(`${dbDir}.lock`)).toBe(true);
    const r = await hodei(["controller", "--data-dir", dbDir, "--listen", "127.0.0.1:0"]);
    expect(r.code).toBe(125);
    expect(r.stderr).toContain(`the data dir ${dbDir} is in use by process ${controller.proc.pid}, a controller at ${controller.address}`);
  });

  it("is what `hodei run` uses when HODEI_DATA_DIR points at it, instead of opening the same files", async () => {
    const r = await hodeiJson<{ agent: string; state: string }>(["run", "examples/hello/.hodei/jobs/hello.yaml"], { env: { HODEI_DATA_DIR: home } });
    expect(r).toMatchObject({ agent: "standalone-1", state: "succeeded" });
  });

  it("hodei logs -f shows a running job's log from the first byte, then follows it to the end", async () => {
    const env = { HODEI_CONTROLLER: controller.address };
    const { id } = await hodeiJson<{ id: string }>(["run", "test/fixtures/jobs/counter.yaml", "--detach"], { env });
    await eventually(async () => ((await controller.client.getRun(id)).logChunks >= 3 ? true : undefined), "a few lines to be stored");
    const follow = await hodei(["logs", id, "-f"], { env });
    expect(follow.code).toBe(0);
    expect(follow.stdout.toString()).toBe(expectedCounter);
    expect((await controller.client.getRun(id)).state).toBe("succeeded");
    // And again once it is over, without -f: the same bytes from the store.
    expect((await hodei(["logs", id], { env })).stdout.toString()).toBe(expectedCounter);
  });

  it("hodei logs, runs get and cancel say what is wrong for a run that does not exist, and exit 4", async () => {
    const env = { HODEI_CONTROLLER: controller.address };
    for (const args of [["logs", "999999"], ["runs", "get", "999999"], ["cancel", "999999"], ["runs", "get", "'; drop table runs; --"]]) {
      const r = await hodei(args, { env });
      expect(r.code, args.join(" ")).toBe(4);
      expect(r.stderr).toMatch(/run .* not found/);
    }
    expect((await controller.client.listRuns({})).length).toBeGreaterThan(0);
  });

  it("refuses bad flags with exit code 2 and a message", async () => {
    const bad = [
      ["controller", "--database-url", "mysql://x", "--listen", "127.0.0.1:0"],
      ["controller", "--data-dir", join(home, "other"), "--listen", "nonsense"],
      ["controller", "--listen", "127.0.0.1:0"],
    ];
    const messages = [/invalid database URL/, /invalid address "nonsense"/, /give --database-url/];
    for (const [i, args] of bad.entries()) {
      const r = await hodei(args);
      expect(r.code, args.join(" ")).toBe(2);
      expect(r.stderr).toMatch(messages[i]!);
    }
  });

  it("stops cleanly on SIGTERM: exit 0 and the lock released", async () => {
    const other = tempDir("hodei-sigterm-");
    const c = await startController({ dataDir: join(other, "db") });
    expect(existsSync(join(other, "db.lock"))).toBe(true);
    const code = await c.stop("SIGTERM");
    // On failure, say how it ended and what it wrote.
    expect({ code, signal: c.proc.signalCode, log: code === 0 ? "" : readFileSync(c.logFile, "utf8").slice(-3000) }).toEqual({ code: 0, signal: null, log: "" });
    expect(existsSync(join(other, "db.lock"))).toBe(false);
  });
});

describe("unschedulable runs", () => {
  it("wait while no agent is connected, and fail with why once agents exist that cannot take them", async () => {
    const alone = await startController({ dataDir: join(tempDir("hodei-unsched-"), "db") }, ["--unschedulable-after", "0", "--heartbeat-interval", "200ms"]);
    try {
      const env = { HODEI_CONTROLLER: alone.address };
      const { id } = await hodeiJson<{ id: string }>(["run", "test/fixtures/jobs/sleepy.yaml", "--detach"], { env });
      // Several checks pass with no agent connected: the run must still be queued.
      await new Promise((r) => setTimeout(r, 1_000));
      expect((await alone.client.getRun(id)).state).toBe("queued");
      const dir = tempDir();
      const gpu = join(dir, "gpu.yaml");
      writeFileSync(gpu, "apiVersion: hodei.dev/v1\nkind: Job\nmetadata: { name: gpu }\nspec:\n  run: echo never\n  selector: { gpu: a100 }\n");
      const { id: gpuId } = await hodeiJson<{ id: string }>(["run", gpu, "--detach"], { env });
      const a = await startAgent(alone, { name: "cpu-only", labels: "os=linux" });
      try {
        const ended = await eventually(async () => {
          const r = await alone.client.getRun(gpuId);
          return r.state === "failed" ? r : undefined;
        }, "the gpu run to fail as unschedulable");
        expect(ended.reason).toBe("unschedulable");
        expect(ended.message).toBe("no agent can take this run: it needs labels {gpu=a100}; agents: cpu-only {os=linux}");
        const first = await eventually(async () => {
          const r = await alone.client.getRun(id);
          return r.state === "succeeded" ? r : undefined;
        }, "the first run to run on the new agent");
        expect(first.agentName).toBe("cpu-only");
      } finally {
        await a.stop();
      }
    } finally {
      await alone.stop();
    }
  });
});
