// Runs in place (ExecSpec.workspace_dir, `hodei run --in-place`): the agent
// works in the named directory itself, writes none of its own files there and
// never removes it; an agent not started to allow it fails the run before it
// starts. Real processes and files; the controller is the fake peer of these tests.
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { FinishReason } from "../../../proto/gen/hodei/v1/common.js";
import { FakeController } from "./fake-controller.js";
import { eventually, startTestAgent, type TestAgent } from "./helpers.js";

/** A directory standing for a user's working tree, with a file in it. */
function tree(): string {
  const dir = mkdtempSync(join(tmpdir(), "hodei-in-place-"));
  writeFileSync(join(dir, "mine.txt"), "the user's\n");
  mkdirSync(join(dir, "sub"));
  return dir;
}

describe("an agent started with allowInPlace", () => {
  let fake: FakeController;
  let ta: TestAgent;
  const trees: string[] = [];
  beforeAll(async () => {
    fake = await FakeController.start();
    ta = await startTestAgent(fake, { allowInPlace: true });
  });
  afterAll(async () => {
    await ta.dispose();
    await fake.stop();
  });
  afterEach(() => {
    for (const d of trees.splice(0)) rmSync(d, { recursive: true, force: true });
  });

  it("runs the job in the directory itself, with workdir relative to it, writes nothing of its own there and leaves it after the run", async () => {
    const dir = tree();
    trees.push(dir);
    fake.assign("ip-ok", { script: 'pwd\necho "$HODEI_WORKSPACE"\ncat ../mine.txt\necho made > ../made.txt', workdir: "sub", workspaceDir: dir });
    expect(await fake.finished("ip-ok")).toMatchObject({ reason: FinishReason.FINISH_REASON_EXITED, exitCode: 0 });
    expect(fake.text("ip-ok")).toBe(`${join(dir, "sub")}\n${dir}\nthe user's\n`);
    // The agent's own per-attempt directory (where the script was) goes away...
    const own = join(ta.workDir, "runs", "ip-ok-1");
    await eventually(() => !existsSync(own), "the attempt's scratch directory removed");
    // ...the user's directory stays, with exactly the user's files and the job's.
    expect(readdirSync(dir).sort()).toEqual(["made.txt", "mine.txt", "sub"]);
    expect(readFileSync(join(dir, "made.txt"), "utf8")).toBe("made\n");
    expect(readFileSync(join(dir, "mine.txt"), "utf8")).toBe("the user's\n");
  });

  it("leaves the directory after a failing run too", async () => {
    const dir = tree();
    trees.push(dir);
    fake.assign("ip-fail", { script: "echo partial > partial.txt\nexit 7", workspaceDir: dir });
    expect(await fake.finished("ip-fail")).toMatchObject({ reason: FinishReason.FINISH_REASON_EXITED, exitCode: 7 });
    await eventually(() => !existsSync(join(ta.workDir, "runs", "ip-fail-1")), "the attempt's scratch directory removed");
    expect(readdirSync(dir).sort()).toEqual(["mine.txt", "partial.txt", "sub"]);
  });

  it("leaves the directory after a run that timed out or was cancelled", async () => {
    const dir = tree();
    trees.push(dir);
    fake.assign("ip-timeout", { script: "echo started > t.txt\nexec sleep 30", workspaceDir: dir, timeoutMs: 300, killGraceMs: 200 });
    expect(await fake.finished("ip-timeout")).toMatchObject({ reason: FinishReason.FINISH_REASON_TIMEOUT });
    fake.assign("ip-cancel", { script: "echo started > c.txt\nexec sleep 30", workspaceDir: dir, killGraceMs: 200 });
    await eventually(() => existsSync(join(dir, "c.txt")), "the cancelled job to start");
    fake.cancel("ip-cancel");
    expect(await fake.finished("ip-cancel")).toMatchObject({ reason: FinishReason.FINISH_REASON_CANCELLED });
    await eventually(() => !existsSync(join(ta.workDir, "runs", "ip-cancel-1")), "the attempt's scratch directory removed");
    expect(readdirSync(dir).sort()).toEqual(["c.txt", "mine.txt", "sub", "t.txt"]);
  });

  it("fails the run before it starts when the directory is gone, is a file, or comes with a bundle", async () => {
    const gone = join(tmpdir(), `hodei-in-place-gone-${process.pid}`);
    fake.assign("ip-gone", { script: "echo ran", workspaceDir: gone });
    const g = await fake.finished("ip-gone");
    expect(g).toMatchObject({ reason: FinishReason.FINISH_REASON_SPAWN_FAILED });
    expect(g.message).toContain(`cannot run in place in ${gone}: it no longer exists`);
    expect(existsSync(gone)).toBe(false); // not created either

    const dir = tree();
    trees.push(dir);
    fake.assign("ip-file", { script: "echo ran", workspaceDir: join(dir, "mine.txt") });
    expect((await fake.finished("ip-file")).message).toContain("is not a directory");

    fake.assign("ip-bundle", { script: "echo ran", workspaceDir: dir, sourceDigest: "a".repeat(64) });
    expect((await fake.finished("ip-bundle")).message).toContain("cannot also have a source bundle");
    expect(fake.text("ip-gone") + fake.text("ip-file") + fake.text("ip-bundle")).toBe("");
    expect(readdirSync(dir).sort()).toEqual(["mine.txt", "sub"]);
  });
});

describe("an agent not started with allowInPlace", () => {
  let fake: FakeController;
  let ta: TestAgent;
  let dir: string;
  beforeAll(async () => {
    fake = await FakeController.start();
    ta = await startTestAgent(fake);
    dir = tree();
  });
  afterAll(async () => {
    await ta.dispose();
    await fake.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("fails a run in place before it starts, with the reason, and touches neither directory", async () => {
    fake.assign("ip-refused", { script: "echo ran > ran.txt", workspaceDir: dir });
    const f = await fake.finished("ip-refused");
    expect(f).toMatchObject({ reason: FinishReason.FINISH_REASON_SPAWN_FAILED });
    expect(f.message).toContain(`this agent does not run jobs in place (the run asks to work in ${dir} itself)`);
    expect(f.message).toContain("--allow-in-place");
    expect(fake.text("ip-refused")).toBe("");
    // Its removal of the attempt's own directory has happened (a normal run after it is removed in turn)...
    fake.assign("after", { script: "true" });
    await fake.finished("after");
    await eventually(() => !existsSync(join(ta.workDir, "runs", "after-1")), "the next run's workspace removed");
    // ...and the named directory is as it was.
    expect(readdirSync(dir).sort()).toEqual(["mine.txt", "sub"]);
  });
});
