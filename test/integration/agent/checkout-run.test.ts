// A real agent checks out a run's repository before the job starts (ExecSpec.checkout):
// the job runs in the checkout with HODEI_* set; a failed checkout ends the run CHECKOUT
// with git's error as system lines; a cancel during the checkout ends it CANCELLED.
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type AddressInfo, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FinishReason, LogStream } from "../../../proto/gen/hodei/v1/common.js";
import { FakeController } from "./fake-controller.js";
import { startTestAgent, type TestAgent } from "./helpers.js";

const { LOG_STREAM_STDOUT: OUT, LOG_STREAM_SYSTEM: SYS } = LogStream;

describe("runs with a checkout", () => {
  let fake: FakeController;
  let ta: TestAgent;
  let scratch: string;
  let url: string;
  let c1: string;
  const hole = createServer((s) => {
    sockets.push(s);
    onConnect?.();
  });
  const sockets: Socket[] = [];
  let onConnect: (() => void) | undefined;

  beforeAll(async () => {
    scratch = mkdtempSync(join(tmpdir(), "hodei-checkout-run-"));
    const src = join(scratch, "src");
    mkdirSync(join(src, "sub"), { recursive: true });
    const git = (...args: string[]) => execFileSync("git", args, { cwd: src, encoding: "utf8", env: { ...process.env, GIT_AUTHOR_NAME: "t", GIT_AUTHOR_EMAIL: "t@t", GIT_COMMITTER_NAME: "t", GIT_COMMITTER_EMAIL: "t@t" } }).trim();
    git("init", "-q", "-b", "main");
    writeFileSync(join(src, "sub", "f"), "at c1\n");
    git("add", ".");
    git("commit", "-qm", "c1");
    c1 = git("rev-parse", "HEAD");
    writeFileSync(join(src, "sub", "f"), "at c2\n");
    git("commit", "-qam", "c2");
    url = `file://${src}`;
    await new Promise<void>((r) => hole.listen(0, "127.0.0.1", r));
    fake = await FakeController.start();
    ta = await startTestAgent(fake);
  });

  afterAll(async () => {
    await ta.dispose();
    await fake.stop();
    for (const s of sockets) s.destroy();
    hole.close();
    rmSync(scratch, { recursive: true, force: true });
  });

  it("the job starts in the checkout at the commit, workdir relative to it, HODEI_* not overridable by env", async () => {
    fake.assign("co-ok", {
      script: 'git rev-parse HEAD; cat f; echo "commit=$HODEI_COMMIT event=$HODEI_EVENT"',
      workdir: "sub",
      env: { HODEI_COMMIT: "spoofed" },
      hodeiEnv: { HODEI_COMMIT: c1, HODEI_EVENT: "push" },
      checkout: { url, commit: c1, ref: "refs/heads/main", token: "" },
    });
    const done = await fake.finished("co-ok");
    expect(done, fake.text("co-ok", 1, SYS)).toMatchObject({ reason: FinishReason.FINISH_REASON_EXITED, exitCode: 0 });
    expect(fake.text("co-ok", 1, OUT)).toBe(`${c1}\nat c1\ncommit=${c1} event=push\n`);
  });

  it("a commit the repository lacks: CHECKOUT, git's error in the log as system lines, no RunStarted, no token", async () => {
    const token = "tok-never-shown";
    fake.assign("co-missing", { script: "echo ran", checkout: { url: `${url}?${token}`, commit: "f".repeat(40), ref: "", token } });
    const done = await fake.finished("co-missing");
    expect(done.reason).toBe(FinishReason.FINISH_REASON_CHECKOUT);
    const sys = fake.text("co-missing", 1, SYS);
    expect(sys).toMatch(/^hodei: checkout failed: git fetch of commit f{40} from /);
    expect(sys).not.toContain(token);
    expect(done.message).not.toContain(token);
    expect(fake.text("co-missing", 1, OUT)).toBe("");
    expect(fake.messages("runStarted").some((m) => m.runId === "co-missing")).toBe(false);
  });

  it("a cancel while git is fetching ends the run CANCELLED without starting the job", async () => {
    const connected = new Promise<void>((r) => (onConnect = r));
    const port = (hole.address() as AddressInfo).port;
    fake.assign("co-cancel", { script: "echo ran", checkout: { url: `git://127.0.0.1:${port}/x.git`, commit: c1, ref: "", token: "" } });
    await connected;
    fake.cancel("co-cancel");
    const done = await fake.finished("co-cancel");
    expect(done.reason).toBe(FinishReason.FINISH_REASON_CANCELLED);
    expect(done.message).toMatch(/before the process started/);
    expect(fake.messages("runStarted").some((m) => m.runId === "co-cancel")).toBe(false);
  });
});
