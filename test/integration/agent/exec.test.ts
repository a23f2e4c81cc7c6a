// Jobs run as real processes; results and log bytes travel over real gRPC.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FinishReason, LogStream } from "../../../proto/gen/hodei/v1/common.js";
import { FakeController } from "./fake-controller.js";
import { eventually, pidAlive, sleep, startTestAgent, type TestAgent } from "./helpers.js";

const { LOG_STREAM_STDOUT: OUT, LOG_STREAM_STDERR: ERR, LOG_STREAM_SYSTEM: SYS } = LogStream;

describe("executing jobs", () => {
  let fake: FakeController;
  let ta: TestAgent;
  let scratch: string;
  beforeAll(async () => {
    process.env.HODEI_TEST_AGENT_SECRET = "must-not-leak";
    scratch = mkdtempSync(join(tmpdir(), "hodei-exec-test-"));
    fake = await FakeController.start();
    ta = await startTestAgent(fake);
  });
  afterAll(async () => {
    await ta.dispose();
    await fake.stop();
    rmSync(scratch, { recursive: true, force: true });
    delete process.env.HODEI_TEST_AGENT_SECRET;
  });

  it("delivers stdout and stderr bytes exactly (colours, \\r, binary), numbered without gaps, then RunFinished", async () => {
    const binary = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
    const binFile = join(scratch, "bytes.bin");
    writeFileSync(binFile, binary);
    const script = [
      `printf '\\033[1;31mred\\033[0m plain\\n'`,
      `printf 'progress 10%%\\rprogress 100%%\\n'`,
      `printf 'warning: \\033[33mcareful\\033[0m\\n' >&2`,
      `cat "$BIN"`,
      `printf 'héllo wörld ✓\\n'`,
      `printf 'last err line' >&2`,
    ].join("\n");
    fake.assign("bytes", { script, env: { BIN: binFile } });
    const done = await fake.finished("bytes");
    expect(done).toMatchObject({ reason: FinishReason.FINISH_REASON_EXITED, exitCode: 0, signal: "" });

    const expectedOut = Buffer.concat([
      Buffer.from("\x1b[1;31mred\x1b[0m plain\nprogress 10%\rprogress 100%\n", "latin1"),
      binary,
      Buffer.from("héllo wörld ✓\n", "utf8"),
    ]);
    expect(fake.output("bytes", 1, OUT).equals(expectedOut)).toBe(true);
    expect(fake.text("bytes", 1, ERR)).toBe("warning: \x1b[33mcareful\x1b[0m\nlast err line");

    // One sequence for both streams, 0..n-1, no gaps, and RunFinished counts it.
    const seqs = fake.batches("bytes").flatMap((b) => b.chunks.map((_, i) => b.firstSeq + i));
    expect([...new Set(seqs)].sort((a, b) => a - b)).toEqual(Array.from({ length: done.logChunks }, (_, i) => i));
    // Protocol order on the stream: RunStarted, the batches, then RunFinished.
    const order = fake.received.filter((r) => "runId" in r.msg.value && r.msg.value.runId === "bytes").map((r) => r.msg.$case);
    expect(order[0]).toBe("runStarted");
    expect(order.at(-1)).toBe("runFinished");
    expect(order.slice(1, -1).every((c) => c === "logBatch")).toBe(true);
    const started = fake.messages("runStarted").find((s) => s.runId === "bytes")!;
    expect(started.pid).toBeGreaterThan(1);
    expect(done.finishedAtMs).toBeGreaterThanOrEqual(started.startedAtMs);
  });

  it("reports a non-zero exit code, and bash runs with -e and pipefail", async () => {
    fake.assign("exit3", { script: "echo before\nexit 3\necho after" });
    fake.assign("errexit", { script: "echo one\nfalse\necho two" });
    fake.assign("pipefail", { script: "false | true\necho unreachable" });
    fake.assign("nounset", { script: 'echo "$NOT_SET_ANYWHERE"' });
    expect(await fake.finished("exit3")).toMatchObject({ reason: FinishReason.FINISH_REASON_EXITED, exitCode: 3 });
    expect(fake.text("exit3")).toBe("before\n");
    expect(await fake.finished("errexit")).toMatchObject({ exitCode: 1 });
    expect(fake.text("errexit")).toBe("one\n");
    expect(await fake.finished("pipefail")).toMatchObject({ exitCode: 1 });
    expect(fake.text("pipefail")).toBe("");
    expect((await fake.finished("nounset")).exitCode).not.toBe(0);
  });

  it("runs sh scripts with sh -e", async () => {
    fake.assign("sh", { script: 'echo "in sh"\nfalse\necho no', shell: "sh" });
    expect(await fake.finished("sh")).toMatchObject({ exitCode: 1 });
    expect(fake.text("sh")).toBe("in sh\n");
  });

  it("executes command: argv directly, without a shell", async () => {
    fake.assign("argv", { command: ["printf", "%s|", "a b", "$HOME", "*", "`id`"] });
    expect(await fake.finished("argv")).toMatchObject({ reason: FinishReason.FINISH_REASON_EXITED, exitCode: 0 });
    expect(fake.text("argv")).toBe("a b|$HOME|*|`id`|");
  });

  it("sets env and workdir inside the run's workspace, and does not leak the agent's env", async () => {
    const script = 'pwd\necho "$FOO|$CI|$HODEI_RUN_ID|$HODEI_ATTEMPT|$HODEI_JOB|${HODEI_TEST_AGENT_SECRET:-unset}"\ntest -n "$PATH"';
    fake.assign("envwd", { script, env: { FOO: "bar baz", CI: "custom" }, workdir: "sub/dir" }, 2, "my-job");
    expect(await fake.finished("envwd", 2)).toMatchObject({ exitCode: 0 });
    const [pwd, vars] = fake.text("envwd", 2).split("\n");
    expect(pwd).toBe(join(ta.workDir, "runs", "envwd-2", "sub", "dir"));
    expect(vars).toBe("bar baz|custom|envwd|2|my-job|unset");
  });

  it("fails a missing command with SPAWN_FAILED and a system log line, without RunStarted", async () => {
    fake.assign("nocmd", { command: ["hodei-no-such-command-xyz", "--flag"] });
    const done = await fake.finished("nocmd");
    expect(done.reason).toBe(FinishReason.FINISH_REASON_SPAWN_FAILED);
    expect(done.message).toContain("hodei-no-such-command-xyz");
    expect(done.exitCode).toBeUndefined();
    expect(fake.text("nocmd", 1, SYS)).toMatch(/^hodei: cannot start the job: .*hodei-no-such-command-xyz/);
    expect(fake.messages("runStarted").some((s) => s.runId === "nocmd")).toBe(false);
  });

  it("refuses a workdir outside the workspace, and an empty spec", async () => {
    fake.assign("escape", { script: "echo hi", workdir: "../../.." });
    fake.assign("empty", {});
    const escape = await fake.finished("escape");
    expect(escape.reason).toBe(FinishReason.FINISH_REASON_SPAWN_FAILED);
    expect(escape.message).toMatch(/outside the run's workspace/);
    expect((await fake.finished("empty")).message).toMatch(/neither script nor command/);
  });

  it("stops a job at its timeout: SIGTERM to the group, SIGKILL after the grace", async () => {
    const t0 = Date.now();
    fake.assign("timeout", { script: "echo start\nsleep 30", timeoutMs: 300, killGraceMs: 5_000 });
    fake.assign("stubborn", { script: "trap '' TERM\necho start\nsleep 30", timeoutMs: 300, killGraceMs: 400 });
    const polite = await fake.finished("timeout");
    expect(polite).toMatchObject({ reason: FinishReason.FINISH_REASON_TIMEOUT, signal: "SIGTERM" });
    expect(polite.message).toMatch(/timed out after 300 ms/);
    const stubborn = await fake.finished("stubborn");
    expect(stubborn).toMatchObject({ reason: FinishReason.FINISH_REASON_TIMEOUT, signal: "SIGKILL" });
    expect(Date.now() - t0).toBeLessThan(5_000);
    expect(fake.text("stubborn")).toBe("start\n");
  });

  it("cancel kills the job and every child it started", async () => {
    const pidFile = join(scratch, "pids");
    const script = [
      'sleep 300 & echo $! >> "$PIDS"',
      'sleep 300 & echo $! >> "$PIDS"',
      `bash -c 'sleep 300 & echo $! >> "$PIDS"; wait' &`,
      'echo $! >> "$PIDS"',
      "sleep 0.2",
      "echo ready",
      "wait",
    ].join("\n");
    fake.assign("cancel", { script, env: { PIDS: pidFile } });
    await fake.waitFor(() => (fake.text("cancel").includes("ready") ? true : undefined), "ready");
    const pids = readFileSync(pidFile, "utf8").trim().split("\n").map(Number);
    expect(pids).toHaveLength(4);
    expect(pids.every(pidAlive)).toBe(true);
    fake.cancel("cancel", 1, 2_000, "user asked");
    const done = await fake.finished("cancel");
    expect(done).toMatchObject({ reason: FinishReason.FINISH_REASON_CANCELLED, message: "cancelled: user asked" });
    for (let i = 0; i < 20 && pids.some(pidAlive); i++) await sleep(100);
    expect(pids.filter(pidAlive)).toEqual([]);
  });

  it("stops what a job left running in its process group when it exits", async () => {
    const pidFile = join(scratch, "bg-pid");
    fake.assign("leftover", { script: 'sleep 300 &\necho $! > "$PIDS"\necho main done', env: { PIDS: pidFile } });
    const done = await fake.finished("leftover");
    expect(done).toMatchObject({ reason: FinishReason.FINISH_REASON_EXITED, exitCode: 0 });
    expect(fake.text("leftover")).toBe("main done\n");
    const pid = Number(readFileSync(pidFile, "utf8"));
    await eventually(() => !pidAlive(pid), "the background sleep to die", 3_000);
  });

  it("a cancel that arrives with the Assign still ends the run as CANCELLED", async () => {
    fake.assign("early-cancel", { script: "echo started\nsleep 300" });
    fake.cancel("early-cancel", 1, 1_000, "changed my mind");
    const done = await fake.finished("early-cancel");
    expect(done.reason).toBe(FinishReason.FINISH_REASON_CANCELLED);
    expect(done.message).toMatch(/^cancelled: changed my mind/);
  });

  it("ignores a duplicate Assign of a run it already has", async () => {
    fake.assign("dup", { script: "sleep 0.3\necho once" });
    fake.assign("dup", { script: "echo twice" });
    await fake.finished("dup");
    await sleep(200);
    expect(fake.messages("runFinished").filter((f) => f.runId === "dup")).toHaveLength(1);
    expect(fake.text("dup")).toBe("once\n");
  });
});
