/**
 * `hodei run -i` as a user runs it: the built CLI with its stdin a pipe,
 * against a controller on PostgreSQL and an agent, all separate processes.
 * The bytes reach the job whole and in order; without -i the job's stdin is
 * closed; a job that reads none of a large input does not hang hodei; stdin
 * over the controller's limit is refused in plain words; `-` with -i and
 * --detach with -i are usage errors.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { spawn } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { createTestDatabase } from "../helpers/db.js";
import { HODEI, ROOT, hodei, hodeiJson, startAgent, startController, tempDir, type ControllerProc, type Proc } from "../helpers/procs.js";

let db: Awaited<ReturnType<typeof createTestDatabase>>;
let controller: ControllerProc;
let agent: Proc;
const dir = tempDir("hodei-stdin-");
const env = (): NodeJS.ProcessEnv => ({ HODEI_CONTROLLER: controller.address });
/** Small, so the over-the-limit case needs little data. */
const LIMIT = 12 * 1024 * 1024;

beforeAll(async () => {
  db = await createTestDatabase();
  controller = await startController({ databaseUrl: db.url }, ["--max-stdin", String(LIMIT)]);
  agent = await startAgent(controller, { name: "stdin-agent", slots: 4 });
});

afterAll(async () => {
  await agent?.stop();
  await controller?.stop();
  await db?.drop();
});

function job(name: string, run: string): string {
  const file = join(dir, `${name}.yaml`);
  writeFileSync(file, `apiVersion: hodei.dev/v1\nkind: Job\nmetadata: { name: ${name} }\nspec:\n  run: ${JSON.stringify(run)}\n`);
  return file;
}

interface Ran {
  code: number | null;
  stdout: string;
  stderr: string;
  /** Bytes of `input` the pipe took before hodei closed its stdin. */
  written: number;
}

/** `hodei ARGS` with `input` written to its stdin (then closed); `input` undefined: stdin stays open and empty. */
function runWith(args: string[], input: Buffer | undefined): Promise<Ran> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [HODEI, ...args], { cwd: ROOT, env: { ...process.env, ...env() }, stdio: ["pipe", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    let written = 0;
    p.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    p.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    p.stdin.on("error", () => {}); // EPIPE once hodei stops reading: expected for a job that wants no input
    // A bound so a broken test ends instead of hanging.
    const timer = setTimeout(() => p.kill("SIGKILL"), 90_000);
    if (input) {
      const step = 64 * 1024;
      const write = (off: number): void => {
        if (off >= input.length || p.stdin.destroyed) return void p.stdin.end();
        const piece = input.subarray(off, off + step);
        const more = p.stdin.write(piece, (err) => err || (written += piece.length));
        if (more) setImmediate(() => write(off + step));
        else p.stdin.once("drain", () => write(off + step));
      };
      write(0);
    }
    p.on("error", reject);
    p.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr, written });
    });
  });
}

const sha = (b: Buffer): string => createHash("sha256").update(b).digest("hex");

describe("hodei run -i", () => {
  it("passes stdin to the job: `printf 'a\\nb\\n' | hodei run job.yaml -i` with cat and wc -l", async () => {
    const r = await runWith(["run", job("cat-lines", "cat"), "-i"], Buffer.from("a\nb\n"));
    expect(r.stdout).toBe("a\nb\n");
    expect(r.code).toBe(0);
    const w = await runWith(["run", job("count-lines", "wc -l"), "--interactive"], Buffer.from("a\nb\n"));
    expect(w.stdout.trim()).toBe("2");
    expect(w.code).toBe(0);
  });

  it("a stdin of several MiB arrives whole and in order (sha256 in the job)", async () => {
    const input = randomBytes(6 * 1024 * 1024 + 12345);
    const r = await runWith(["run", job("checksum", "sha256sum | cut -d' ' -f1; echo done"), "-i"], input);
    expect(r.stdout).toBe(`${sha(input)}\ndone\n`);
    expect(r.code).toBe(0);
  });

  it("a job that reads stdin slowly gets all of it (backpressure through agent and controller)", async () => {
    const input = Buffer.from(Array.from({ length: 3000 }, (_, i) => `line ${i}\n`).join(""));
    const r = await runWith(["run", job("slow-reader", "n=0; while IFS= read -r l; do n=$((n+1)); [ $((n % 500)) -eq 0 ] && sleep 0.1; done; echo read $n"), "-i"], input);
    expect(r.stdout).toBe("read 3000\n");
    expect(r.code).toBe(0);
  });

  it("a retried attempt reads the same stdin again from the start", async () => {
    const file = join(dir, "retried.yaml");
    writeFileSync(
      file,
      `apiVersion: hodei.dev/v1\nkind: Job\nmetadata: { name: retried }\nspec:\n  run: "echo attempt $HODEI_ATTEMPT: $(tr '\\\\n' ' '); [ $HODEI_ATTEMPT -ge 2 ] || exit 7"\n  retries: { limit: 1, backoff: 100ms }\n`,
    );
    const r = await runWith(["run", file, "-i"], Buffer.from("x\ny\n"));
    expect(r.stdout).toBe("attempt 1: x y\nattempt 2: x y\n");
    expect(r.code).toBe(0);
  });

  it("without -i the job's stdin is closed: cat ends at once even while hodei's stdin stays open", async () => {
    // hodei's stdin is a pipe nobody writes to or closes: a job reading it would never end.
    const r = await runWith(["run", job("no-input", "cat; echo cat-ended")], undefined);
    expect(r.stdout).toBe("cat-ended\n");
    expect(r.code).toBe(0);
  });

  it("a job that reads no stdin (exit 3) with a large -i input ends, and hodei exits with its code", async () => {
    const r = await runWith(["run", job("no-reader", "exit 3"), "-i"], randomBytes(10 * 1024 * 1024));
    expect(r.code).toBe(3);
    expect(r.stderr).not.toMatch(/Error/);
  });

  it("a job that closes its stdin early (head -c) ends normally", async () => {
    const r = await runWith(["run", job("head-reader", "head -c 5; echo; echo ok"), "-i"], Buffer.alloc(4 * 1024 * 1024, "x"));
    expect(r.stdout).toBe("xxxxx\nok\n");
    expect(r.code).toBe(0);
  });

  it("stdin over the controller's limit is refused in plain words, and the run is cancelled", async () => {
    const r = await runWith(["run", job("too-much", "cat > /dev/null; echo all-read"), "-i"], randomBytes(LIMIT + 1024 * 1024));
    expect(r.stderr).toMatch(/stdin of run \d+ is over the controller's limit of 12 MiB \(12582912 bytes\)/);
    expect(r.code).toBe(2);
    expect(r.stdout).not.toContain("all-read");
    const runs = await hodeiJson<{ runs: { state: string }[] }>(["runs", "ls", "--job", "too-much", "--limit", "1"], { env: env() });
    expect(runs.runs[0]?.state).toBe("cancelled");
  });

  it("`hodei run - -i` and `hodei run FILE -i --detach` are usage errors (exit 2)", async () => {
    const dash = await runWith(["run", "-", "-i"], Buffer.from("apiVersion: hodei.dev/v1\n"));
    expect(dash.code).toBe(2);
    expect(dash.stderr).toContain("would read both the job and its input from stdin");
    const detach = await hodei(["run", job("detached", "cat"), "-i", "--detach"], { env: env() });
    expect(detach.code).toBe(2);
    expect(detach.stderr).toContain("cannot be used with --detach");
  });
});
