/**
 * Two `hodei controller` processes on one PostgreSQL database, one agent
 * connected to controller A only. Through the event bus, controller B
 * follows A's run's logs to the end, cancels a run running on A's agent,
 * passes `hodei run -i`'s stdin to a job on A's agent, and drains that agent.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestDatabase, type TestDatabase } from "../helpers/db.js";
import { spawn } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { HODEI, ROOT, eventually, hodei, startAgent, startController, tempDir, type ControllerProc, type Proc } from "../helpers/procs.js";

const job = (name: string, run: string): string => JSON.stringify({ apiVersion: "hodei.dev/v1", kind: "Job", metadata: { name }, spec: { run } });
const TERMINAL = ["succeeded", "failed", "cancelled", "timed_out"];

let db: TestDatabase;
let a: ControllerProc;
let b: ControllerProc;
let agent: Proc | undefined;

beforeAll(async () => {
  db = await createTestDatabase();
  a = await startController({ databaseUrl: db.url }, ["--heartbeat-interval", "500ms"]);
  b = await startController({ databaseUrl: db.url }, ["--heartbeat-interval", "500ms"]);
  agent = await startAgent(a, { name: "only-on-a", slots: 2 });
});

afterAll(async () => {
  agent?.proc.kill("SIGKILL");
  await agent?.exited;
  await a?.stop();
  await b?.stop();
  await db?.drop();
});

describe("two controllers on one database", () => {
  it("hodei logs -f against B prints the whole output of a run on A's agent and exits when it ends", async () => {
    expect(a.address).not.toBe(b.address);
    const run = await a.client.submitRun({ jobJson: job("two-logs", 'for i in 1 2 3; do echo "line $i"; sleep 0.3; done\nsleep 1\necho done'), source: "t", idempotencyKey: "" });
    const r = await hodei(["logs", "-f", run.id, "--controller", b.address], { timeoutMs: 60_000 });
    expect(r.stderr).not.toMatch(/error/i);
    expect(r.code).toBe(0);
    expect(r.stdout.toString()).toBe("line 1\nline 2\nline 3\ndone\n");
    const ended = await b.client.getRun(run.id);
    expect(ended).toMatchObject({ state: "succeeded", agentName: "only-on-a" });
  });

  it("hodei cancel sent to B cancels a run running on A's agent", async () => {
    const run = await a.client.submitRun({ jobJson: job("two-cancel", "echo started\nsleep 60"), source: "t", idempotencyKey: "" });
    await eventually(async () => ((await a.client.getRun(run.id)).state === "running" ? true : undefined), "the run to start on A's agent");
    const r = await hodei(["cancel", run.id, "--controller", b.address]);
    expect(r.code, r.stderr).toBe(0);
    const ended = await eventually(async () => {
      const x = await a.client.getRun(run.id);
      return TERMINAL.includes(x.state) ? x : undefined;
    }, "the run to end");
    expect(ended).toMatchObject({ state: "cancelled", agentName: "only-on-a" });
  });

  it("hodei run -i against B feeds a job on A's agent, live: a line sent after the job has started still arrives", async () => {
    const file = join(tempDir("hodei-two-stdin-"), "echo-lines.yaml");
    writeFileSync(file, 'apiVersion: hodei.dev/v1\nkind: Job\nmetadata: { name: two-stdin }\nspec:\n  run: "while read -r l; do echo got $l; done; echo bye"\n');
    const r = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
      const p = spawn(process.execPath, [HODEI, "run", file, "-i", "--controller", b.address], { cwd: ROOT, env: { ...process.env, HODEI_CONTROLLER: "" }, stdio: ["pipe", "pipe", "pipe"] });
      let stdout = "";
      let stderr = "";
      // A bound so a broken test ends (a stdin chunk B stored that A never heard of would hang the job).
      const timer = setTimeout(() => p.kill("SIGKILL"), 60_000);
      p.stdout.on("data", (d: Buffer) => {
        stdout += d.toString();
        // Only once the job has read the first line (so it is waiting on A for more) does the second go to B.
        if (stdout.includes("got one") && p.stdin.writable) p.stdin.end("two\n");
      });
      p.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
      p.stdin.write("one\n");
      p.on("close", (code) => {
        clearTimeout(timer);
        resolve({ code, stdout, stderr });
      });
    });
    expect(r.stdout, r.stderr).toBe("got one\ngot two\nbye\n");
    expect(r.code).toBe(0);
  });

  it("hodei agents drain sent to B drains the agent connected to A", async () => {
    const r = await hodei(["agents", "drain", "only-on-a", "--controller", b.address]);
    expect(r.code, r.stderr).toBe(0);
    // The agent heard it (from A, over its stream): with nothing running, a drained agent exits.
    const code = await Promise.race([agent!.exited, new Promise<"still running">((res) => setTimeout(() => res("still running"), 30_000))]);
    expect(code).toBe(0);
    const { agents } = await a.client.listAgents();
    expect(agents.find((x) => x.name === "only-on-a")?.state).not.toBe("connected");
    // And no new work goes to it: a run submitted now stays queued.
    const queued = await a.client.submitRun({ jobJson: job("two-after-drain", "true"), source: "t", idempotencyKey: "" });
    await new Promise((res) => setTimeout(res, 1000));
    expect((await b.client.getRun(queued.id)).state).toBe("queued");
  });
});
