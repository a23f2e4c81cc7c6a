/**
 * The embedded controller as a per-user daemon: it outlives the `hodei` that
 * started it, serves every terminal, is reachable only by its owner, and goes
 * away by itself when idle. Each test data dir gets its own daemon, stopped in
 * afterAll.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { spawn } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { HODEI, ROOT, eventually, hodei, hodeiJson, isAlive, tempDir } from "../helpers/procs.js";

interface Status {
  running: boolean;
  pid: number | null;
  address: string | null;
  rssBytes: number | null;
}
interface RunJson {
  id: string;
  job: string;
  state: string;
  exitCode: number | null;
  message: string;
}

const started: string[] = [];
/** A fresh data dir, its daemon stopped after the file. */
function dataDir(parent = tempDir("hodei-daemon-")): { dir: string; env: NodeJS.ProcessEnv } {
  const dir = join(parent, "data");
  started.push(dir);
  return { dir, env: { HODEI_DATA_DIR: dir } };
}
afterAll(async () => {
  for (const dir of started) {
    await hodei(["embedded", "stop"], { env: { HODEI_DATA_DIR: dir } });
  }
});

function jobFile(dir: string, name: string, body: string): string {
  const file = join(dir, `${name}.yaml`);
  writeFileSync(file, `apiVersion: hodei.dev/v1\nkind: Job\nmetadata: { name: ${name} }\nspec:\n${body}`);
  return file;
}

const status = (env: NodeJS.ProcessEnv): Promise<Status> => hodeiJson<Status>(["embedded", "status"], { env });
const getRun = (id: string, env: NodeJS.ProcessEnv): Promise<RunJson> => hodeiJson<RunJson>(["runs", "get", id], { env });

describe("the embedded daemon", () => {
  const { dir, env } = dataDir();
  const jobs = tempDir("hodei-daemon-jobs-");

  beforeAll(async () => {
    // The first command starts the daemon (a fresh PGlite cluster: slow on a busy machine).
    const r = await hodei(["runs", "ls"], { env, timeoutMs: 110_000 });
    expect(r.code).toBe(0);
  });

  it("runs detached from the hodei that started it, owner-only, and status shows it", async () => {
    const s = await status(env);
    expect(s).toMatchObject({ running: true, address: `unix:${join(dir, "controller.sock")}` });
    expect(isAlive(s.pid!)).toBe(true);
    // Its own session: a terminal's Ctrl-C (sent to the foreground process group) never reaches it.
    const stat = readFileSync(`/proc/${s.pid}/stat`, "utf8").split(") ")[1]!.split(" ");
    expect(Number(stat[3])).toBe(s.pid); // session id (setsid)
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    expect(statSync(join(dir, "controller.sock")).mode & 0o777).toBe(0o600);
    const human = await hodei(["embedded", "status"], { env });
    expect(human.stdout.toString()).toContain(`pid      ${s.pid}`);
    // Its new database is a copy of the build's template (dist/pglite-template), not a slow initdb.
    expect(readFileSync(join(dir, "controller.log"), "utf8")).toContain("new database, copied from the template");
  });

  it("completes a --detach run and a rerun after the submitting hodei has exited", async () => {
    const file = jobFile(jobs, "detached", "  run: sleep 1; echo from-detached\n");
    const d = await hodei(["run", file, "--detach"], { env });
    expect(d.code).toBe(0);
    const id = d.stdout.toString().trim();
    const done = await eventually(async () => {
      const r = await getRun(id, env);
      return r.state === "succeeded" ? r : undefined;
    }, "the detached run to succeed");
    expect(done.exitCode).toBe(0);
    const logs = await hodei(["logs", id], { env });
    expect(logs.stdout.toString()).toBe("from-detached\n");

    const re = await hodeiJson<RunJson>(["rerun", id], { env });
    expect(re.id).not.toBe(id);
    await eventually(async () => ((await getRun(re.id, env)).state === "succeeded" ? true : undefined), "the rerun to succeed");
    expect((await hodei(["logs", re.id], { env })).stdout.toString()).toBe("from-detached\n");
  });

  it("two terminals run in parallel; Ctrl-C in one cancels only its own run", async () => {
    const other = jobFile(jobs, "other", "  run: echo other-started; sleep 3; echo other-done\n");
    const mine = jobFile(jobs, "mine", "  run: echo mine-started; sleep 60\n  killGrace: 1s\n");
    const a = hodei(["run", other], { env });
    const b = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
      const p = spawn(process.execPath, [HODEI, "run", mine], { cwd: ROOT, env: { ...process.env, HODEI_CONTROLLER: "", ...env }, stdio: ["ignore", "pipe", "pipe"] });
      let stderr = "";
      p.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
      p.stdout.once("data", () => p.kill("SIGINT"));
      p.on("close", (code) => resolve({ code, stderr }));
    });
    expect(b.code).toBe(130);
    const ra = await a;
    expect({ code: ra.code, stdout: ra.stdout.toString(), stderr: ra.stderr.replace(/^hodei: run \d+\n/, "") }).toEqual({ code: 0, stdout: "other-started\nother-done\n", stderr: "" });
    const { runs } = await hodeiJson<{ runs: RunJson[] }>(["runs", "ls", "--limit", "2"], { env });
    expect(runs.map((r) => [r.job, r.state]).sort()).toEqual([
      ["mine", "cancelled"],
      ["other", "succeeded"],
    ]);
    expect((await status(env)).running).toBe(true);
  });

  it("a hodei run killed with SIGKILL leaves its run going: it completes, is listed and can be followed", async () => {
    // The job waits for the test's go-ahead, so it is still running whatever the machine's speed.
    const go = join(jobs, "survivor-go");
    const file = jobFile(jobs, "survivor", `  run: echo survivor-started; while [ ! -e ${go} ]; do sleep 0.2; done; echo survivor-done\n`);
    const p = spawn(process.execPath, [HODEI, "run", file], { cwd: ROOT, env: { ...process.env, HODEI_CONTROLLER: "", ...env }, stdio: ["ignore", "pipe", "pipe"] });
    await new Promise<void>((resolve) => p.stdout.once("data", () => resolve()));
    const killed = new Promise((resolve) => p.on("close", resolve));
    p.kill("SIGKILL");
    await killed;
    const { runs } = await hodeiJson<{ runs: RunJson[] }>(["runs", "ls", "--job", "survivor"], { env });
    expect(runs).toHaveLength(1);
    expect(runs[0]!.state).toBe("running");
    const following = hodei(["logs", runs[0]!.id, "-f"], { env });
    await new Promise((r) => setTimeout(r, 1_000));
    writeFileSync(go, "");
    const follow = await following;
    expect(follow.code).toBe(0);
    expect(follow.stdout.toString()).toBe("survivor-started\nsurvivor-done\n");
    expect((await getRun(runs[0]!.id, env)).state).toBe("succeeded");
  });

  it("embedded stop stops it and its agent, cancelling a run still going; the next command starts it again", async () => {
    const busy = await hodei(["run", jobFile(jobs, "stopped", "  run: echo stopped-started; sleep 120\n"), "--detach"], { env });
    const busyId = busy.stdout.toString().trim();
    await eventually(async () => ((await getRun(busyId, env)).state === "running" ? true : undefined), "the run to start");
    const before = await status(env);
    const agentPid = Number([...readFileSync(join(dir, "daemon.log"), "utf8").matchAll(/agent pid (\d+)/g)].at(-1)?.[1]);
    expect(isAlive(agentPid)).toBe(true);
    const stopped = await hodeiJson<{ stopped: boolean; pid: number }>(["embedded", "stop"], { env });
    expect(stopped).toMatchObject({ stopped: true, pid: before.pid });
    expect(isAlive(before.pid!)).toBe(false);
    await eventually(() => (isAlive(agentPid) ? undefined : true), "the agent to exit");
    expect(existsSync(join(dir, "controller.sock"))).toBe(false);
    expect(await status(env)).toMatchObject({ running: false, pid: null });
    expect(await hodeiJson<{ stopped: boolean }>(["embedded", "stop"], { env })).toMatchObject({ stopped: false });
    // Earlier runs are still there, served by a new daemon.
    const { runs } = await hodeiJson<{ runs: RunJson[] }>(["runs", "ls", "--job", "survivor"], { env, timeoutMs: 110_000 });
    expect(runs[0]!.state).toBe("succeeded");
    expect(await getRun(busyId, env)).toMatchObject({ state: "cancelled", message: "the agent is shutting down (received SIGTERM)" });
    const after = await status(env);
    expect(after.running).toBe(true);
    expect(after.pid).not.toBe(before.pid);
  }, 120_000);
});

/** Gone: no such process, or a zombie nobody has reaped yet (it runs nothing). */
function gone(pid: number): boolean {
  if (!isAlive(pid)) return true;
  try {
    return readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.startsWith("Z");
  } catch {
    return true;
  }
}

describe("the embedded daemon killed with SIGKILL", () => {
  it("takes its agent with it, and the agent's running job: nothing is left orphaned", async () => {
    const { dir, env } = dataDir();
    const jobs = tempDir("hodei-orphan-jobs-");
    const pidFile = join(jobs, "job.pid");
    const r = await hodei(["run", jobFile(jobs, "orphan", `  run: echo $$ > ${pidFile}; sleep 300\n`), "--detach"], { env, timeoutMs: 110_000 });
    expect(r.code).toBe(0);
    const jobPid = await eventually(() => (existsSync(pidFile) && readFileSync(pidFile, "utf8").trim() ? Number(readFileSync(pidFile, "utf8")) : undefined), "the job to start", 60_000);
    const daemon = await status(env);
    const agentPid = Number([...readFileSync(join(dir, "daemon.log"), "utf8").matchAll(/agent pid (\d+)/g)].at(-1)?.[1]);
    expect([isAlive(daemon.pid!), isAlive(agentPid), isAlive(jobPid)]).toEqual([true, true, true]);
    process.kill(daemon.pid!, "SIGKILL");
    // Polled, with a generous bound (the agent allows itself 15 s to cancel its runs).
    await eventually(() => (gone(agentPid) ? true : undefined), "the orphaned agent to exit", 60_000);
    await eventually(() => (gone(jobPid) ? true : undefined), "the orphaned agent's job to end", 60_000);
    expect(readFileSync(join(dir, "agent.log"), "utf8")).toContain("its parent process exited");
  }, 180_000);
});

describe("the embedded daemon's idle exit", () => {
  it("exits by itself after HODEI_EMBEDDED_IDLE with no runs and no calls, not while a run goes on", async () => {
    const { dir, env } = dataDir();
    const idleEnv = { ...env, HODEI_EMBEDDED_IDLE: "3s" };
    const jobs = tempDir("hodei-idle-jobs-");
    // The job outlasts the idle time twice over: a running run keeps the daemon.
    const p = spawn(process.execPath, [HODEI, "run", jobFile(jobs, "long", "  run: echo long-started; sleep 10; echo long-done\n")], {
      cwd: ROOT,
      env: { ...process.env, HODEI_CONTROLLER: "", ...idleEnv },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    p.stdout.on("data", (d: Buffer) => (out += d.toString()));
    const code = new Promise((resolve) => p.on("close", resolve));
    await eventually(() => (out.includes("long-started") ? true : undefined), "the job to start", 110_000);
    const s = await status(env);
    expect(s.running).toBe(true);
    expect(await code).toBe(0);
    expect(out).toBe("long-started\nlong-done\n");
    await eventually(() => (isAlive(s.pid!) ? undefined : true), "the idle daemon to exit", 60_000);
    expect(readFileSync(join(dir, "daemon.log"), "utf8")).toContain("stopping: idle for 3000 ms");
    expect((await status(env)).running).toBe(false);
  }, 180_000);
});

describe("another local user", () => {
  // Needs root to act as nobody.
  it.skipIf(process.getuid?.() !== 0)("cannot submit to the owner's daemon, neither through the data dir nor the socket", async () => {
    const parent = tempDir("hodei-owner-");
    chmodSync(parent, 0o755); // nobody may traverse the parent, not the data dir (0700)
    // nobody must be able to run the built hodei at all: a checkout under a 0700 folder (mktemp -d)
    // made it fail to start (exit 1), proving nothing. Let it traverse (o+x) the folders above the checkout.
    for (let d = ROOT; d !== dirname(d); d = dirname(d)) chmodSync(d, statSync(d).mode | 0o001);
    const { dir, env } = dataDir(parent);
    expect((await hodei(["runs", "ls"], { env, timeoutMs: 110_000 })).code).toBe(0);
    const marker = join(parent, "pwned");
    const nobodyDir = join(tempDir("hodei-nobody-"), "x");
    mkdirSync(nobodyDir);
    chmodSync(join(nobodyDir, ".."), 0o777);
    const job = jobFile(join(nobodyDir, ".."), "intruder", `  run: touch ${marker}\n`);
    chmodSync(job, 0o644);
    const asNobody = (args: string[], extra: NodeJS.ProcessEnv) =>
      new Promise<{ code: number | null; stderr: string }>((resolve) => {
        const p = spawn("setpriv", ["--reuid", "nobody", "--regid", "nogroup", "--clear-groups", process.execPath, HODEI, ...args], {
          cwd: ROOT,
          env: { PATH: process.env.PATH, HOME: "/nonexistent", HODEI_CONTROLLER: "", ...extra },
          stdio: ["ignore", "pipe", "pipe"],
        });
        let stderr = "";
        p.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
        p.on("close", (code) => resolve({ code, stderr }));
      });
    const viaDir = await asNobody(["run", job], env);
    expect(viaDir.code).toBe(125);
    expect(viaDir.stderr).toContain(`the data dir ${dir} belongs to another user`);
    const viaSocket = await asNobody(["run", job, "--controller", `unix:${join(dir, "controller.sock")}`], { HODEI_DATA_DIR: nobodyDir });
    expect(viaSocket.code).toBe(3);
    expect(viaSocket.stderr).toContain("cannot reach the controller");
    expect(viaSocket.stderr).toContain("EACCES");
    expect(existsSync(marker)).toBe(false);
    const { runs } = await hodeiJson<{ runs: RunJson[] }>(["runs", "ls"], { env });
    expect(runs).toEqual([]);
  }, 150_000);
});

describe("the daemon's agent, started beside its controller", () => {
  // The daemon starts its agent while its controller is still starting (cli/embedded.ts): the
  // agent must not dial before the daemon's IPC message, and must leave if the daemon dies first.
  function startWaitingAgent(): { child: ReturnType<typeof spawn>; log: () => string } {
    const dir = tempDir("hodei-waiting-agent-");
    const child = spawn(process.execPath, [HODEI, "agent", "--controller", `unix:${join(dir, "nothing.sock")}`, "--work-dir", join(dir, "work"), "--kill-method", "process-group"], {
      cwd: ROOT,
      env: { ...process.env, HODEI_CONTROLLER: "", HODEI_AGENT_DIAL_ON_MESSAGE: "1" },
      stdio: ["ignore", "ignore", "pipe", "ipc"],
    });
    let out = "";
    child.stderr!.on("data", (d: Buffer) => (out += d.toString()));
    return { child, log: () => out };
  }

  it("dials only once told the controller listens", async () => {
    const { child, log } = startWaitingAgent();
    try {
      await eventually(() => (log().includes("agent starting") ? true : undefined), "the agent to start");
      // Given time to dial, it has not: nothing listens there, and a dial would be logged as a failure.
      await new Promise((res) => setTimeout(res, 1_500));
      expect(log()).not.toContain("reconnecting");
      child.send("controller-listening");
      await eventually(() => (log().includes("controller stream down; reconnecting") ? true : undefined), "the agent to dial");
    } finally {
      child.kill("SIGKILL");
    }
  }, 60_000);

  it("exits when the daemon goes before its controller listens", async () => {
    const { child, log } = startWaitingAgent();
    await eventually(() => (log().includes("agent starting") ? true : undefined), "the agent to start");
    const exited = new Promise<number | null>((res) => child.once("exit", (code) => res(code)));
    child.disconnect();
    expect(await exited).not.toBe(0);
    expect(log()).toContain("the embedded controller exited before it listened");
    expect(log()).not.toContain("reconnecting");
  }, 60_000);
});
