import { mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import os from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { HostMetrics } from "../../../agent/metrics.js";
import { attemptDirs, jobEnv, prepareLaunch, resolveWorkdir, workspacePath } from "../../../agent/workspace.js";
import { ExecSpec } from "../../../proto/gen/hodei/v1/agent.js";

const root = mkdtempSync(join(os.tmpdir(), "hodei-ws-test-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const request = (spec: Partial<ExecSpec>, runId = "run-1") => ({
  runId,
  attempt: 2,
  jobName: "build",
  spec: ExecSpec.fromPartial(spec),
  workspace: workspacePath(root, runId, 2),
});

describe("workspace", () => {
  it("names the workspace after run and attempt, made safe as one path segment", () => {
    expect(workspacePath("/w", "abc", 1)).toBe("/w/runs/abc-1");
    expect(workspacePath("/w", "../../etc", 1)).toBe("/w/runs/.._.._etc-1");
  });

  it("keeps the workdir inside the workspace", () => {
    expect(resolveWorkdir("/w/runs/a-1", "src/app")).toBe("/w/runs/a-1/src/app");
    expect(resolveWorkdir("/w/runs/a-1", "")).toBe("/w/runs/a-1");
    expect(resolveWorkdir("/w/runs/a-1", "x/../y")).toBe("/w/runs/a-1/y");
    for (const bad of ["..", "../b-1", "/etc", "x/../../.."]) expect(() => resolveWorkdir("/w/runs/a-1", bad)).toThrow(/outside/);
  });

  it("builds a minimal env: a few inherited names, the spec's, then the run's identity", () => {
    const env = jobEnv(request({ env: { FOO: "1", HODEI_RUN_ID: "spoof", PATH: "/opt/bin" } }), { PATH: "/usr/bin", HOME: "/home/u", AWS_SECRET_ACCESS_KEY: "x" });
    expect(env).toEqual({
      PATH: "/opt/bin",
      HOME: "/home/u",
      CI: "true",
      FOO: "1",
      HODEI_RUN_ID: "run-1",
      HODEI_ATTEMPT: "2",
      HODEI_JOB: "build",
      HODEI_WORKSPACE: join(root, "runs", "run-1-2"),
    });
  });

  it("writes the script with set -euo pipefail first and runs it with bash --noprofile --norc -eo pipefail", async () => {
    const plan = await prepareLaunch(request({ script: "echo hi", workdir: "a/b" }, "s1"));
    const file = join(root, "runs", "s1-2", ".hodei", "script.sh");
    expect(plan).toMatchObject({ file: "bash", args: ["--noprofile", "--norc", "-eo", "pipefail", file], cwd: join(root, "runs", "s1-2", "a", "b") });
    expect(readFileSync(file, "utf8")).toBe("set -euo pipefail\necho hi\n");
    expect(statSync(plan.cwd).isDirectory()).toBe(true);
  });

  it("runs command argv as is, and refuses ambiguous specs and unknown shells", async () => {
    expect(await prepareLaunch(request({ command: ["make", "-j2", "all"] }, "c1"))).toMatchObject({ file: "make", args: ["-j2", "all"] });
    await expect(prepareLaunch(request({ script: "x", command: ["y"] }))).rejects.toThrow(/both script and command/);
    await expect(prepareLaunch(request({ script: "x", shell: "fish" }))).rejects.toThrow(/shell "fish"/);
  });
});

describe("HostMetrics", () => {
  it("reports host figures within their ranges", () => {
    const m = new HostMetrics();
    const hb = m.heartbeat(3);
    expect(hb.running).toBe(3);
    expect(hb.cpuPercent).toBeGreaterThanOrEqual(0);
    expect(hb.cpuPercent).toBeLessThanOrEqual(100);
    expect(hb.memoryTotalBytes).toBe(os.totalmem());
    expect(hb.memoryUsedBytes).toBeLessThanOrEqual(hb.memoryTotalBytes);
    expect(hb.load1).toBeGreaterThanOrEqual(0);
    expect(hb.agentRssBytes).toBeGreaterThan(0);
  });
});

describe("attemptDirs", () => {
  it("a usual run: a fresh workspace under the work dir, the agent's files in its .hodei/, all of it removed", () => {
    const d = attemptDirs("/w", "r/1", 3, { workspaceDir: "" });
    expect(d).toEqual({ workspace: "/w/runs/r_1-3", scratch: "/w/runs/r_1-3/.hodei", removable: "/w/runs/r_1-3" });
  });

  it("a run in place: the named directory is the workspace and is never what gets removed", () => {
    const d = attemptDirs("/w", "r1", 1, { workspaceDir: "/home/me/web" });
    expect(d).toEqual({ workspace: "/home/me/web", scratch: "/w/runs/r1-1", removable: "/w/runs/r1-1" });
  });

  it("prepareLaunch writes a run in place's script to its scratch, not into the directory", async () => {
    const dir = mkdtempSync(join(root, "in-place-"));
    const dirs = attemptDirs(root, "ip", 1, { workspaceDir: dir });
    const plan = await prepareLaunch({ runId: "ip", attempt: 1, jobName: "j", spec: ExecSpec.fromPartial({ script: "echo hi", workspaceDir: dir }), ...dirs, allowInPlace: true });
    expect(plan.cwd).toBe(dir);
    expect(plan.env.HODEI_WORKSPACE).toBe(dir);
    expect(plan.args.at(-1)).toBe(join(root, "runs", "ip-1", "script.sh"));
    expect(readFileSync(join(root, "runs", "ip-1", "script.sh"), "utf8")).toContain("echo hi");
    expect(() => statSync(join(dir, ".hodei"))).toThrow();
  });
});
