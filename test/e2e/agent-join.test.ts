/**
 * Real `hodei agent` processes joining a real `hodei controller` (PostgreSQL)
 * that has no reusable join token: an operator makes a single-use token with
 * `hodei agents token create`, the agent joins with it from a 0600 file, keeps
 * its credential (0600) in its work dir, and comes back as itself after its
 * own restart and the controller's, though the token is used up; a new agent
 * with the used token is refused and audited. A job cannot find the token in
 * its agent's environment (/proc/<agent pid>/environ) when it came from a file;
 * and with `--run-as` (CI runs as root), a job cannot read the agent's process
 * or its credential at all.
 */
import { execFileSync, spawn } from "node:child_process";
import { chmodSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestDatabase } from "../helpers/db.js";
import { HODEI, eventually, hodei, hodeiJson, startAgent, startController, tempDir, type ControllerProc, type Proc } from "../helpers/procs.js";

/** No seed join token anywhere: agents must use the token the test makes. */
const NO_SEED = { HODEI_AGENT_JOIN_TOKEN: "", HODEI_AGENT_TOKEN: "" };

let db: Awaited<ReturnType<typeof createTestDatabase>>;
let controller: ControllerProc;
const procs: Proc[] = [];
const dir = tempDir("hodei-join-");

beforeAll(async () => {
  db = await createTestDatabase();
  controller = await startController({ databaseUrl: db.url }, [], { env: NO_SEED });
});

afterAll(async () => {
  for (const p of procs) await p.stop();
  await controller?.stop();
  await db?.drop();
});

const env = () => ({ HODEI_CONTROLLER: controller.address });

/** Starts `hodei agent` that the controller turns away; returns its log once it says it was refused, and stops it. */
async function refusedAgent(name: string, extra: string[]): Promise<string> {
  const p = spawn(process.execPath, [HODEI, "agent", "--controller", controller.address, "--name", name, "--work-dir", join(dir, `work-${name}`), ...extra], {
    stdio: ["ignore", "ignore", "pipe"],
    env: { ...process.env, ...NO_SEED, HODEI_CONTROLLER: "" },
  });
  let log = "";
  p.stderr.on("data", (d: Buffer) => (log += d.toString()));
  try {
    await eventually(() => (log.includes("the controller refused this agent") ? true : undefined), `${name} to be refused`);
  } finally {
    p.kill("SIGKILL");
  }
  return log;
}

async function runJob(name: string, script: string, selector: Record<string, string>): Promise<{ state: string; log: string }> {
  const file = join(dir, `${name}.yaml`);
  writeFileSync(file, JSON.stringify({ apiVersion: "hodei.dev/v1", kind: "Job", metadata: { name }, spec: { run: script, selector } }));
  const r = await hodei(["run", file], { env: env() });
  const runs = await controller.client.listRuns({});
  const run = runs.find((x) => x.jobName === name)!;
  return { state: run.state, log: r.stdout.toString() + r.stderr };
}

describe("a real agent and a single-use join token", () => {
  let tokenFile: string;
  let token: string;
  const workDir = join(dir, "work-1");
  let agent: Proc;

  it("joins with the token from a 0600 file and keeps its credential, 0600, in its work dir", async () => {
    const made = await hodeiJson<{ token: string; id: string; maxUses: number; labels: Record<string, string> }>(["agents", "token", "create", "--labels", "pool=join-e2e", "--ttl", "10m"], { env: env() });
    expect(made).toMatchObject({ maxUses: 1, labels: { pool: "join-e2e" } });
    token = made.token;
    tokenFile = join(dir, "join.token");
    writeFileSync(tokenFile, `${token}\n`, { mode: 0o600 });
    agent = await startAgent(controller, { name: "joiner", workDir, extra: ["--token-file", tokenFile], env: NO_SEED });
    procs.push(agent);
    const files = readdirSync(join(workDir, "credentials"));
    expect(files).toHaveLength(1);
    const file = join(workDir, "credentials", files[0]!);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(statSync(join(workDir, "credentials")).mode & 0o777).toBe(0o700);
    expect(readFileSync(file, "utf8")).toMatch(/^hodeia_[0-9A-Za-z]{43}\n$/);
    const listed = (await controller.client.listAgents()).agents.find((a) => a.name === "joiner");
    expect(listed?.labels.pool).toBe("join-e2e");
  });

  it("a job does not find the join token in its agent's environment", async () => {
    const pid = agent.proc.pid!;
    const r = await runJob("peek", `tr '\\0' '\\n' < /proc/${pid}/environ | grep -c HODEI_AGENT_TOKEN=hodeij || true; echo peeked`, { pool: "join-e2e" });
    expect(r.state).toBe("succeeded");
    expect(r.log).toContain("peeked");
    expect(r.log).not.toContain(token);
  });

  it("comes back as itself after its own restart and the controller's, though the token is used up", async () => {
    const before = (await controller.client.listAgents()).agents.find((a) => a.name === "joiner")!;
    await agent.stop();
    agent = await startAgent(controller, { name: "joiner", workDir, extra: ["--token-file", tokenFile], env: NO_SEED });
    procs.push(agent);
    expect((await controller.client.listAgents()).agents.find((a) => a.name === "joiner")?.id).toBe(before.id);

    // The controller restarts on the same address; the agent redials with its credential.
    const address = controller.address;
    await controller.stop();
    controller = await startController({ databaseUrl: db.url }, [], { env: NO_SEED, listen: address });
    await eventually(async () => ((await controller.client.listAgents()).agents.find((a) => a.name === "joiner")?.state === "connected" ? true : undefined), "the agent to reconnect");
    expect((await runJob("after-restart", "echo still me", { pool: "join-e2e" })).state).toBe("succeeded");
    const joins = (await controller.client.listAudit({ action: "agent.join", limit: 100 })).filter((e) => e.outcome === "allowed" && e.target === "agent joiner");
    expect(joins).toHaveLength(1);
  });

  it("a new agent with the used token is refused, says why, and the refusal is on record", async () => {
    const stranger = await refusedAgent("stranger", ["--token-file", tokenFile]);
    expect(stranger).toContain("cannot be used: used");
    const denied = await eventually(async () => (await controller.client.listAudit({ action: "agent.join", limit: 100 })).find((e) => e.outcome === "denied" && JSON.parse(e.detailJson).reason === "used join token"), "the refusal in the audit log");
    expect(denied.actor).toMatch(/^join-token:\d+$/);
    expect((await controller.client.listAgents()).agents.map((a) => a.name)).not.toContain("stranger");
  });

  it("an agent with no token at all is refused with a message that says how to get one", async () => {
    expect(await refusedAgent("tokenless", [])).toContain("hodei agents token create");
    expect((await controller.client.listAgents()).agents.map((a) => a.name)).not.toContain("tokenless");
  });

  it("hodei agents token ls shows the token used up, by its prefix only", async () => {
    const r = await hodei(["agents", "token", "ls"], { env: env() });
    expect(r.code).toBe(0);
    expect(r.stdout.toString()).toMatch(/used\s+1\/1\s+pool=join-e2e/);
    expect(r.stdout.toString()).not.toContain(token);
  });
});

const isRoot = process.getuid?.() === 0;

describe.runIf(isRoot)("hodei agent --run-as (as root)", () => {
  it("runs jobs as the unprivileged user, who can use its workspace but cannot read the agent's process or credential", async () => {
    try {
      execFileSync("getent", ["passwd", "hodei-job"]);
    } catch {
      execFileSync("useradd", ["--system", "--no-create-home", "--shell", "/usr/sbin/nologin", "hodei-job"]);
    }
    const workDir = join(dir, "work-runas");
    // The job's user must be able to pass through to its workspace (the agent checks, and says so).
    const refused = await hodei(["agent", "--controller", controller.address, "--run-as", "hodei-job", "--work-dir", workDir], { timeoutMs: 30_000 });
    expect(refused.code).toBe(2);
    // oclif wraps its error text: compare it as one line.
    expect(refused.stderr.replace(/\s*\n\s*›?\s*/g, " ")).toContain(`user hodei-job cannot reach the work dir ${workDir}: ${dir} does not let others through`);
    chmodSync(dir, 0o711);
    const agent = await startAgent(controller, { name: "runas", workDir, labels: "pool=runas", extra: ["--run-as", "hodei-job"], env: { HODEI_AGENT_TOKEN: (await hodeiJson<{ token: string }>(["agents", "token", "create"], { env: env() })).token } });
    procs.push(agent);
    const credential = join(workDir, "credentials", readdirSync(join(workDir, "credentials"))[0]!);
    const pid = agent.proc.pid!;
    const r = await runJob(
      "as-user",
      [
        "echo uid=$(id -u) user=$USER",
        "echo made > here.txt && cat here.txt",
        `cat /proc/${pid}/environ >/dev/null 2>&1 && echo ENVIRON-READ || echo environ-denied`,
        `cat ${credential} >/dev/null 2>&1 && echo CREDENTIAL-READ || echo credential-denied`,
        `ls ${workDir} >/dev/null 2>&1 && echo WORKDIR-LISTED || echo workdir-unlisted`,
      ].join("\n"),
      { pool: "runas" },
    );
    expect(r.state, r.log).toBe("succeeded");
    const uid = execFileSync("id", ["-u", "hodei-job"], { encoding: "utf8" }).trim();
    expect(r.log).toContain(`uid=${uid} user=hodei-job`);
    expect(r.log).toContain("made");
    expect(r.log).toContain("environ-denied");
    expect(r.log).toContain("credential-denied");
    expect(r.log).toContain("workdir-unlisted");
    expect(r.log).not.toMatch(/ENVIRON-READ|CREDENTIAL-READ|WORKDIR-LISTED/);
  });

  it("refuses --run-as root and an unknown user before it starts (exit 2)", async () => {
    for (const user of ["root", "no-such-user-hodei"]) {
      const r = await hodei(["agent", "--controller", controller.address, "--run-as", user, "--work-dir", join(dir, `bad-${user}`)], { timeoutMs: 30_000 });
      expect(r.code, user).toBe(2);
      expect(r.stderr).toMatch(/run-as/);
    }
  });
});
