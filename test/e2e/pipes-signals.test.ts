/**
 * `hodei run` and `hodei logs` in pipes and under signals, against a
 * controller on PostgreSQL and an agent, all separate processes: a closed
 * reader stops them at once, large --json leaves whole, SIGINT/SIGTERM/SIGHUP
 * cancel the run and exit 128+signal.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { spawn } from "node:child_process";
import { constants } from "node:os";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { createTestDatabase } from "../helpers/db.js";
import { HODEI, ROOT, hodei, hodeiJson, runAndSignal, startAgent, startController, tempDir, type ControllerProc, type Proc } from "../helpers/procs.js";

let db: Awaited<ReturnType<typeof createTestDatabase>>;
let controller: ControllerProc;
let agent: Proc;
const dir = tempDir("hodei-pipes-");
const env = (): NodeJS.ProcessEnv => ({ HODEI_CONTROLLER: controller.address });

beforeAll(async () => {
  db = await createTestDatabase();
  controller = await startController({ databaseUrl: db.url });
  agent = await startAgent(controller, { name: "pipes-agent", slots: 4 });
});

afterAll(async () => {
  await agent?.stop();
  await controller?.stop();
  await db?.drop();
});

function job(name: string, body: string): string {
  const file = join(dir, `${name}.yaml`);
  writeFileSync(file, `apiVersion: hodei.dev/v1\nkind: Job\nmetadata: { name: ${name} }\nspec:\n${body}`);
  return file;
}

/** `bash -c "hodei ARGS | TAIL"`: resolves with hodei's own exit status (PIPESTATUS) and what TAIL printed. */
function piped(args: string[], tail: string): Promise<{ hodeiCode: number; out: string }> {
  return new Promise((resolve, reject) => {
    const script = `"$0" "$@" | ${tail} > "${join(dir, "tail.out")}"; echo "\${PIPESTATUS[0]}"`;
    const p = spawn("bash", ["-c", script, process.execPath, HODEI, ...args], { cwd: ROOT, env: { ...process.env, ...env() }, stdio: ["ignore", "pipe", "inherit"] });
    let out = "";
    p.stdout.on("data", (d: Buffer) => (out += d.toString()));
    // A bound so a broken test ends: the job below never ends by itself.
    const timer = setTimeout(() => p.kill("SIGKILL"), 60_000);
    p.on("error", reject);
    p.on("close", async () => {
      clearTimeout(timer);
      const { readFileSync } = await import("node:fs");
      resolve({ hodeiCode: Number(out.trim()), out: readFileSync(join(dir, "tail.out"), "utf8") });
    });
  });
}

const lastRun = async (jobName: string): Promise<{ id: string; state: string; message: string }> =>
  (await hodeiJson<{ runs: { id: string; state: string; message: string }[] }>(["runs", "ls", "--job", jobName, "--limit", "1"], { env: env() })).runs[0]!;

describe("pipes", () => {
  it("`hodei run | head -1` exits as soon as head has gone; the run goes on (exit 141, as SIGPIPE)", async () => {
    const file = job("endless", '  run: "i=0; while true; do i=$((i+1)); echo line $i; sleep 0.05; done"\n');
    const r = await piped(["run", file], "head -1");
    expect(r).toEqual({ hodeiCode: 141, out: "line 1\n" });
    const run = await lastRun("endless");
    expect(run.state).toBe("running");
    await hodei(["cancel", run.id], { env: env() });
  });

  it("`hodei run | head -1` of a job that has already ended exits with the job's code", async () => {
    const file = job("quick-fail", "  run: \"seq 1 100000; exit 7\"\n");
    const r = await piped(["run", file], "(head -1; sleep 3)");
    expect(r.out).toBe("1\n");
    // The job writes its 100,000 lines long before head's sleep ends: the CLI
    // either saw the end first (7) or the closed pipe while the run was ending.
    expect([7, 141]).toContain(r.hodeiCode);
  });

  it("`hodei logs RUN | head -c 10` exits at once, and `logs --json` of 5 MB through a pipe parses", async () => {
    // 5 MiB of output: 81,920 lines of 63 characters and a newline.
    const file = job("five-mb", "  run: awk 'BEGIN { for (i = 0; i < 81920; i++) print \"abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyzabcdefghijk\" }'\n");
    const ran = await hodei(["run", file], { env: env() });
    expect(ran.code).toBe(0);
    expect(ran.stdout.length).toBe(5 * 1024 * 1024);
    const id = (await lastRun("five-mb")).id;

    const cut = await piped(["logs", id], "head -c 10");
    expect(cut).toEqual({ hodeiCode: 0, out: "abcdefghij" });
    const cutFollow = await piped(["logs", id, "-f"], "head -c 10");
    expect(cutFollow).toEqual({ hodeiCode: 0, out: "abcdefghij" });

    // A reader slower than hodei: a pipe holds 64 KiB, the rest must wait for it before hodei exits.
    const logs = await piped(["logs", id, "--json"], "(sleep 2; cat)");
    expect(logs.hodeiCode).toBe(0);
    expect(logs.out.length).toBeGreaterThan(5 * 1024 * 1024);
    const parsed = JSON.parse(logs.out) as { chunks: { data: string }[] };
    expect(Buffer.concat(parsed.chunks.map((c) => Buffer.from(c.data, "base64"))).length).toBe(5 * 1024 * 1024);
  });

  it("`hodei validate --json` over many files prints all of its JSON through a pipe", async () => {
    const many = join(tempDir("hodei-many-"), ".hodei");
    const { mkdirSync } = await import("node:fs");
    mkdirSync(many);
    for (let i = 0; i < 600; i++) {
      writeFileSync(join(many, `job-${i}.yaml`), `apiVersion: hodei.dev/v1\nkind: Job\nmetadata: { name: job-number-${i} }\nspec: { run: echo ${i} }\n`);
    }
    const r = await piped(["validate", many, "--json"], "(sleep 2; cat)");
    expect(r.out.length).toBeGreaterThan(65_536);
    expect((JSON.parse(r.out) as { documents: unknown[] }).documents).toHaveLength(600);
    expect(r.hodeiCode).toBe(0);
  });
});

/** Starts `hodei run FILE`, sends `sig` once the job has printed its first line. */
const signalled = (file: string, sig: NodeJS.Signals): Promise<{ code: number | null; stderr: string }> => runAndSignal(file, [sig], env());

describe("signals to hodei run", () => {
  for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
    it(`${sig} cancels the run it started, waits for it, and exits 128+${constants.signals[sig]}`, async () => {
      const name = `sig-${sig.toLowerCase()}`;
      const r = await signalled(job(name, "  run: echo started; sleep 60\n  killGrace: 1s\n"), sig);
      expect({ code: r.code, stderr: r.stderr }).toMatchObject({ code: 128 + constants.signals[sig], stderr: expect.stringContaining("Cancelling run") });
      // It waited: the run has ended when the CLI has.
      expect(await lastRun(name)).toMatchObject({ state: "cancelled", message: `cancelled from hodei run (${sig === "SIGINT" ? "Ctrl-C" : sig})` });
    });
  }
});

describe("logs", () => {
  it("--attempt beyond the run's attempts is an error (exit 2)", async () => {
    const file = job("one-attempt", "  run: echo once\n");
    expect((await hodei(["run", file], { env: env() })).code).toBe(0);
    const id = (await lastRun("one-attempt")).id;
    const r = await hodei(["logs", id, "--attempt", "9"], { env: env() });
    expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 2, stderr: `Error: run ${id} has 1 attempt; --attempt must be between 1 and 1\n` });
  });

  it("-f --exit-status exits with the run's exit code, as gh run watch", async () => {
    const file = job("exits-five", "  run: exit 5\n");
    const ran = await hodei(["run", file], { env: env() });
    expect(ran.code).toBe(5);
    const id = (await lastRun("exits-five")).id;
    expect((await hodei(["logs", id, "-f", "--exit-status"], { env: env() })).code).toBe(5);
    expect((await hodei(["logs", id, "-f"], { env: env() })).code).toBe(0);
  });

  it("a run that does not exist is exit 4", async () => {
    const r = await hodei(["logs", "nosuchrun", "--attempt", "1"], { env: env() });
    expect(r.code).toBe(4);
  });
});
