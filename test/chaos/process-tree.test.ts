/**
 * Issue 3, scenario 6: a job whose grandchild calls setsid (leaving the job's
 * process group and session) and sleeps. After a cancel, and separately after
 * a timeout, no process of the job may remain. The job writes every pid it
 * starts to a file.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { createTestDatabase, type TestDatabase } from "../helpers/db.js";
import { startAgent, eventually, tempDir, type Proc } from "../helpers/procs.js";
import { cmdline, grep, jobJson, running, spawnController, stopAgent, submitWithRetry, summary, waitEnded, waitRun, type ChaosController } from "./harness.js";

/** job (bash) → child (subshell) → grandchild: setsid, then sleep. Each records "<role> <pid>". */
const script = (pids: string): string => `PIDS=${pids}
echo "job $$" >> "$PIDS"
(
  echo "child $BASHPID" >> "$PIDS"
  setsid bash -c 'echo "grandchild-setsid $$" >> "$1"; exec sleep 300' _ "$PIDS" &
  sleep 300
) &
echo started
sleep 300
`;

function readPids(file: string): { role: string; pid: number }[] {
  if (!existsSync(file)) return [];
  return readFileSync(file, "utf8")
    .trim()
    .split("\n")
    .filter(Boolean)
    .map((l) => {
      const [role, pid] = l.split(" ");
      return { role: role!, pid: Number(pid) };
    });
}

let db: TestDatabase;
let controller: ChaosController;
let agent: Proc | undefined;
const pidFiles: string[] = [];

beforeAll(async () => {
  db = await createTestDatabase();
  controller = await spawnController({ database: { databaseUrl: db.url }, extra: ["--heartbeat-interval", "500ms"] });
  agent = await startAgent(controller, { name: "tree-agent", slots: 2 });
  const { agents } = await controller.client.listAgents();
  console.log(`[process-tree] the agent stops jobs by: ${agents.find((a) => a.name === "tree-agent")?.killMethod}`);
});

afterAll(async () => {
  // Whatever escaped stays no longer than the test: these are the job's processes, by the pids it recorded.
  for (const f of pidFiles) for (const { pid } of readPids(f)) if (running(pid) && /sleep|bash/.test(cmdline(pid))) process.kill(pid, "SIGKILL");
  await stopAgent(agent);
  await controller?.stop();
  await db?.drop();
});

async function startTree(name: string, extra: Record<string, unknown>): Promise<{ id: string; pids: { role: string; pid: number }[] }> {
  const client = () => controller.client;
  const file = join(tempDir("hodei-chaos-tree-"), "pids");
  pidFiles.push(file);
  const run = await submitWithRetry(client, jobJson(name, { run: script(file), killGrace: "1s", ...extra }), `${name}-1`);
  await waitRun(client, run.id, (r) => r.state === "running" && r.logChunks >= 1, "to start its processes");
  const pids = await eventually(() => {
    const p = readPids(file);
    return p.length === 3 ? p : undefined;
  }, "the job, its child and the setsid grandchild to record their pids", 15_000);
  expect(pids.map((p) => p.role)).toEqual(["job", "child", "grandchild-setsid"]);
  return { id: run.id, pids };
}

/** Every recorded process gone (bounded wait: the kill grace is 1 s), else the survivors. */
async function survivors(pids: { role: string; pid: number }[]): Promise<string[]> {
  const left = () => pids.filter((p) => running(p.pid)).map((p) => `${p.role} ${p.pid}: ${cmdline(p.pid)}`);
  await eventually(() => (left().length === 0 ? true : undefined), "the job's processes to be gone", 15_000).catch(() => undefined);
  return left();
}

describe("a job whose grandchild calls setsid", () => {
  it("leaves no process behind after a cancel", async () => {
    const { id, pids } = await startTree("tree-cancel", {});
    expect(pids.filter((p) => !running(p.pid))).toEqual([]);
    await controller.client.cancelRun(id, "chaos test cancel");
    const ended = await waitEnded(() => controller.client, id, 60_000);
    const left = await survivors(pids);
    console.log(`[process-tree] cancel: run ${JSON.stringify(summary(ended))}; survivors: ${JSON.stringify(left)}`);
    if (left.length) console.log(`[process-tree] agent.log:\n${grep(agent!.logFile, /kill|cgroup|process|run (started|finished)/i).join("\n")}`);
    expect(ended.state).toBe("cancelled");
    expect(left).toEqual([]);
  }, 120_000);

  it("leaves no process behind after a timeout", async () => {
    const { id, pids } = await startTree("tree-timeout", { timeout: "2s" });
    const ended = await waitEnded(() => controller.client, id, 60_000);
    const left = await survivors(pids);
    console.log(`[process-tree] timeout: run ${JSON.stringify(summary(ended))}; survivors: ${JSON.stringify(left)}`);
    if (left.length) console.log(`[process-tree] agent.log:\n${grep(agent!.logFile, /kill|cgroup|process|run (started|finished)/i).join("\n")}`);
    expect(ended.state).toBe("timed_out");
    expect(left).toEqual([]);
  }, 120_000);
});
