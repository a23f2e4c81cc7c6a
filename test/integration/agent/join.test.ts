// The cgroup join wrapper on its own, through ProcessExecutor with a stand-in
// tree: arguments pass through untouched, and a job that cannot join its
// cgroup never runs and ends SPAWN_FAILED (not with the wrapper's exit code).
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pino } from "pino";
import { afterAll, describe, expect, it } from "vitest";
import type { JobResult } from "../../../agent/executor.js";
import { ProcessExecutor } from "../../../agent/process-executor.js";
import { joinCgroup, signalGroup, type JobTree, type Trees } from "../../../agent/tree.js";
import { ExecSpec } from "../../../proto/gen/hodei/v1/agent.js";
import { FinishReason, LogStream } from "../../../proto/gen/hodei/v1/common.js";

const scratch = mkdtempSync(join(tmpdir(), "hodei-join-test-"));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/** A tree that "joins" by writing its pid to `procsFile` (any file), and stops by process group. */
function standIn(procsFile: string): Trees {
  let pgid: number | undefined;
  const tree: JobTree = {
    where: `cgroup ${procsFile}`,
    empty: true,
    wrap: (plan) => joinCgroup(procsFile, plan),
    spawned: (pid) => void (pgid = pid),
    terminate: () => signalGroup(pgid, "SIGTERM"),
    kill: async () => signalGroup(pgid, "SIGKILL"),
    release: async () => {},
  };
  return { method: "cgroup-v2", create: () => tree, close: () => {} };
}

function run(trees: Trees, spec: Partial<ExecSpec>, name: string) {
  const output: [LogStream, string][] = [];
  let started: number | undefined;
  const finished = new Promise<JobResult>((resolve) => {
    new ProcessExecutor(pino({ level: "silent" }), trees).start(
      { runId: name, attempt: 1, jobName: name, spec: ExecSpec.fromPartial(spec), workspace: join(scratch, name) },
      { onStarted: (pid) => (started = pid), onOutput: (s, d) => output.push([s, d.toString()]), onFinished: resolve },
    );
  });
  return { finished, output, started: () => started };
}

describe("the cgroup join wrapper", () => {
  it("passes argv through untouched, as the job's own pid, without fd 3", async () => {
    const procs = join(scratch, "procs");
    writeFileSync(procs, "");
    const args = ["a b", "$HOME", "*", "`id`", "'q'", '"dq"', "-- x", ""];
    const script = 'printf "%s|" "$@"; echo $$; if [ -e /proc/$$/fd/3 ]; then echo fd3-leaked; else echo no-fd3; fi';
    const r = run(standIn(procs), { command: ["sh", "-c", script, "arg0", ...args] }, "argv");
    expect((await r.finished).exitCode).toBe(0);
    const [line, fd3] = r.output.map(([, d]) => d).join("").split("\n");
    expect(line).toBe(`${args.join("|")}|${r.started()}`);
    expect(fd3).toBe("no-fd3"); // the wrapper's report pipe is closed before the job starts
    expect(Number(readFileSync(procs, "utf8"))).toBe(r.started()); // the pid that joined is the job's
  });

  it("ends SPAWN_FAILED, without running the job, when the cgroup cannot be joined", async () => {
    const marker = join(scratch, "ran");
    const r = run(standIn("/nonexistent/dir/cgroup.procs"), { command: ["touch", marker] }, "nojoin");
    const done = await r.finished;
    expect(done).toMatchObject({ reason: FinishReason.FINISH_REASON_SPAWN_FAILED, message: "cannot move the job into its cgroup /nonexistent/dir/cgroup.procs" });
    expect(existsSync(marker)).toBe(false);
    expect(r.output.find(([s]) => s === LogStream.LOG_STREAM_SYSTEM)?.[1]).toMatch(/^hodei: cannot start the job: cannot move the job into its cgroup/);
  });
});
