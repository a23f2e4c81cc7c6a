// Leaving well: SIGTERM to a real `hodei agent` process, and the controller's Drain.
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { FinishReason } from "../../../proto/gen/hodei/v1/common.js";
import { FakeController } from "./fake-controller.js";
import { sleep, startTestAgent, type TestAgent } from "./helpers.js";

const ENTRY = fileURLToPath(new URL("./cli-entry.ts", import.meta.url));

function exitOf(child: ChildProcess): Promise<number | null> {
  return new Promise((resolve) => child.once("exit", (code) => resolve(code)));
}

describe("draining", () => {
  let fake: FakeController;
  let workDir: string;
  let child: ChildProcess | undefined;
  let ta: TestAgent | undefined;
  let stderr = "";
  beforeEach(async () => {
    fake = await FakeController.start({ heartbeatIntervalMs: 200 });
    workDir = mkdtempSync(join(tmpdir(), "hodei-drain-test-"));
  });
  afterEach(async () => {
    if (child?.exitCode === null) child.kill("SIGKILL");
    await ta?.dispose();
    await fake.stop();
    rmSync(workDir, { recursive: true, force: true });
  });

  async function startCliAgent(): Promise<ChildProcess> {
    stderr = "";
    const args = ["--import", "tsx", ENTRY, "--controller", fake.address, "--work-dir", workDir, "--name", "cli-agent", "--log-level", "info"];
    const c = spawn(process.execPath, args, { stdio: ["ignore", "ignore", "pipe"], env: { ...process.env, HODEI_AGENT_LABELS: "os=linux,via=env" } });
    c.stderr?.on("data", (d: Buffer) => (stderr += d.toString()));
    const hello = await fake.waitFor((rs) => rs.find((r) => r.msg.$case === "hello")?.msg, "the CLI agent's Hello", 30_000);
    expect(hello.$case === "hello" && hello.value).toMatchObject({ name: "cli-agent", labels: { os: "linux", via: "env" } });
    return c;
  }

  it("SIGTERM: running job finishes, new work is refused, GoingAway is sent, exit 0", async () => {
    child = await startCliAgent();
    const exited = exitOf(child);
    fake.assign("long", { script: "sleep 1\necho finished" });
    await fake.waitFor((rs) => rs.find((r) => r.msg.$case === "runStarted"), "RunStarted");
    child.kill("SIGTERM");
    await sleep(200);
    fake.assign("late", { script: "echo should not run" });

    const late = await fake.finished("late");
    expect(late).toMatchObject({ reason: FinishReason.FINISH_REASON_INFRASTRUCTURE, message: "agent is draining" });
    const long = await fake.finished("long");
    expect(long).toMatchObject({ reason: FinishReason.FINISH_REASON_EXITED, exitCode: 0 });
    expect(fake.text("long")).toBe("finished\n");
    expect(await exited).toBe(0);
    const kinds = fake.received.map((r) => r.msg.$case);
    expect(kinds.at(-1)).toBe("goingAway");
    expect(kinds.lastIndexOf("runFinished")).toBeLessThan(kinds.indexOf("goingAway"));
    expect(fake.messages("goingAway")[0]?.reason).toBe("received SIGTERM");
    expect(stderr).toContain('"msg":"agent stopped"');
  });

  it("a second signal cancels running jobs at once", async () => {
    child = await startCliAgent();
    const exited = exitOf(child);
    fake.assign("forever", { script: "echo up\nsleep 300", killGraceMs: 1_000 });
    await fake.waitFor(() => (fake.text("forever") === "up\n" ? true : undefined), "the job's output");
    child.kill("SIGTERM");
    await sleep(300);
    expect(fake.messages("runFinished")).toHaveLength(0); // still draining, waiting for the job
    child.kill("SIGINT");
    const done = await fake.finished("forever");
    expect(done.reason).toBe(FinishReason.FINISH_REASON_CANCELLED);
    expect(await exited).toBe(0);
    expect(fake.received.at(-1)?.msg.$case).toBe("goingAway");
  });

  it("`hodei agent` exits 0 after the controller's Drain, with its job's logs delivered", async () => {
    child = await startCliAgent();
    const exited = exitOf(child);
    fake.assign("before-drain", { script: "echo working\nsleep 0.5\necho done" });
    await fake.waitFor(() => (fake.text("before-drain") === "working\n" ? true : undefined), "the job's first line");
    fake.send({ $case: "drain", value: { reason: "scale down", deadlineMs: 0 } });
    expect(await fake.finished("before-drain")).toMatchObject({ reason: FinishReason.FINISH_REASON_EXITED, exitCode: 0 });
    expect(await exited).toBe(0);
    expect(fake.text("before-drain")).toBe("working\ndone\n");
    expect(fake.messages("goingAway")).toEqual([{ reason: "scale down" }]);
    expect(stderr).toContain('"msg":"agent stopped"');
  });

  it("the controller's Drain cancels what is still running at its deadline", async () => {
    ta = await startTestAgent(fake);
    fake.assign("quick", { script: "sleep 0.2\necho ok" });
    fake.assign("slow", { script: "sleep 300", killGraceMs: 500 });
    await fake.waitFor((rs) => (rs.filter((r) => r.msg.$case === "runStarted").length === 2 ? true : undefined), "two RunStarted");
    fake.send({ $case: "drain", value: { reason: "scale down", deadlineMs: 800 } });
    await ta.agent.closed;
    expect(await fake.finished("quick")).toMatchObject({ reason: FinishReason.FINISH_REASON_EXITED, exitCode: 0 });
    expect(await fake.finished("slow")).toMatchObject({ reason: FinishReason.FINISH_REASON_CANCELLED });
    expect(fake.messages("goingAway")).toEqual([{ reason: "scale down" }]);
    expect(ta.agent.runs()).toEqual([]);
  });
});
