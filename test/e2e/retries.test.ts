/**
 * Retries, attempts, rerun and drain, through the built CLI against a
 * controller on PostgreSQL with one agent.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { createTestDatabase } from "../helpers/db.js";
import { hodei, hodeiJson, startAgent, startController, tempDir, eventually, type ControllerProc, type Proc } from "../helpers/procs.js";

let db: Awaited<ReturnType<typeof createTestDatabase>>;
let controller: ControllerProc;
let agent: Proc;
const env = (): NodeJS.ProcessEnv => ({ HODEI_CONTROLLER: controller.address });
const dir = tempDir("hodei-retries-");

/** A job that fails until it has run `failures` times (a counter file outside the workspace). */
function flaky(name: string, failures: number, retries: string): string {
  const file = join(dir, `${name}.yaml`);
  const counter = join(dir, `${name}.count`);
  writeFileSync(
    file,
    `apiVersion: hodei.dev/v1
kind: Job
metadata: { name: ${name} }
spec:
  run: |
    n=$(( $(cat ${counter} 2>/dev/null || echo 0) + 1 ))
    echo $n > ${counter}
    echo "attempt $HODEI_ATTEMPT, try $n"
    [ $n -gt ${failures} ] || exit 7
  retries: ${retries}
`,
  );
  return file;
}

beforeAll(async () => {
  db = await createTestDatabase();
  controller = await startController({ databaseUrl: db.url });
  agent = await startAgent(controller, { name: "retry-agent", slots: 2 });
});

afterAll(async () => {
  await agent?.stop();
  await controller?.stop();
  await db?.drop();
});

describe("retries", () => {
  it("retries a failing attempt per policy; hodei run follows every attempt and exits with the last one's code", async () => {
    const r = await hodei(["run", flaky("flaky-ok", 1, "{ limit: 2, backoff: 100ms }")], { env: env() });
    expect(r.stdout.toString()).toBe("attempt 1, try 1\nattempt 2, try 2\n");
    expect(r.stderr).toContain("attempt 1 of run");
    expect(r.stderr).toContain("failed with exit code 7; it will be retried");
    expect(r.code).toBe(0);
    const id = (await hodeiJson<{ runs: { id: string }[] }>(["runs", "ls", "--job", "flaky-ok"], { env: env() })).runs[0]!.id;
    const run = await hodeiJson<{ state: string; attempt: number; attempts: { attempt: number; state: string; exitCode: number | null; agent: string }[] }>(["runs", "get", id], { env: env() });
    expect(run.state).toBe("succeeded");
    expect(run.attempt).toBe(2);
    expect(run.attempts.map((a) => [a.attempt, a.state, a.exitCode, a.agent])).toEqual([
      [1, "failed", 7, "retry-agent"],
      [2, "succeeded", 0, "retry-agent"],
    ]);
    // Each attempt keeps its own log.
    expect((await hodei(["logs", id, "--attempt", "1"], { env: env() })).stdout.toString()).toContain("attempt 1, try 1\n");
    expect((await hodei(["logs", id], { env: env() })).stdout.toString()).toBe("attempt 2, try 2\n");
  });

  it("stops at the limit and fails with the last attempt's exit code", async () => {
    const r = await hodei(["run", flaky("flaky-never", 99, "{ limit: 2, backoff: 50ms }")], { env: env() });
    expect(r.code).toBe(7);
    expect(r.stdout.toString()).toBe("attempt 1, try 1\nattempt 2, try 2\nattempt 3, try 3\n");
  });

  it("does not retry causes the policy leaves out", async () => {
    const r = await hodei(["run", flaky("flaky-infra-only", 1, "{ limit: 3, backoff: 50ms, on: [infrastructure] }")], { env: env() });
    expect(r.code).toBe(7);
    expect(r.stdout.toString()).toBe("attempt 1, try 1\n");
  });

  it("hodei rerun starts a new run from the same job document", async () => {
    const { id } = await hodeiJson<{ id: string }>(["run", "examples/hello/.hodei/jobs/hello.yaml", "--detach"], { env: env() });
    const rerun = await hodeiJson<{ id: string; job: string; source: string }>(["rerun", id], { env: env() });
    expect(rerun.id).not.toBe(id);
    expect(rerun.job).toBe("hello");
    expect(rerun.source).toContain(`rerun of ${id}`);
    const ended = await eventually(async () => {
      const r = await controller.client.getRun(rerun.id);
      return r.state === "succeeded" ? r : undefined;
    }, "the rerun to succeed");
    expect(ended.exitCode).toBe(0);
  });
});

describe("hodei agents drain", () => {
  it("lets the running job finish, then the agent leaves and exits 0", async () => {
    const extra = await startAgent(controller, { name: "drain-me", slots: 1, labels: "pool=drain" });
    const file = join(dir, "slow.yaml");
    writeFileSync(file, "apiVersion: hodei.dev/v1\nkind: Job\nmetadata: { name: slow }\nspec:\n  selector: { pool: drain }\n  run: sleep 1; echo done\n");
    const { id } = await hodeiJson<{ id: string }>(["run", file, "--detach"], { env: env() });
    await eventually(async () => ((await controller.client.getRun(id)).state === "running" ? true : undefined), "the job to start");
    const drained = await hodeiJson<{ name: string; state: string }>(["agents", "drain", "drain-me"], { env: env() });
    expect(drained).toMatchObject({ name: "drain-me", state: "draining" });
    expect(await extra.exited).toBe(0);
    expect((await controller.client.getRun(id)).state).toBe("succeeded");
    const missing = await hodei(["agents", "drain", "no-such-agent"], { env: env() });
    expect(missing.code).toBe(4);
    expect(missing.stderr).toContain("agent no-such-agent not found");
  });
});
