// The memory bound of a real `hodei agent` process: a job floods 200+ MB while
// the controller neither reads nor acknowledges. The agent's peak RSS must
// stay bounded (the disk spool takes the backlog), the job must run to its end
// meanwhile, and once the controller reads and acks again every byte arrives,
// in order. A memory bound, not a timing assertion: the deadlines are generous.
import { spawn, type ChildProcess } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterEach, describe, expect, it } from "vitest";
import { FinishReason } from "../../../proto/gen/hodei/v1/common.js";
import { FakeController } from "./fake-controller.js";
import { eventually, sleep } from "./helpers.js";

const ENTRY = fileURLToPath(new URL("./agent-entry.ts", import.meta.url));
// `seq 1 N` is deterministic and fast (GNU seq writes ~1 GB/s): 25M lines = 213,888,897 bytes.
const LINES = 25_000_000;
const PEAK_RSS_LIMIT = 250 << 20;

/** VmRSS / VmHWM of a process, in bytes (0 once it is gone). */
function memoryOf(pid: number): { rss: number; hwm: number } {
  let status = "";
  try {
    status = readFileSync(`/proc/${pid}/status`, "utf8");
  } catch {
    return { rss: 0, hwm: 0 };
  }
  const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(status)?.[1] ?? 0) * 1024;
  return { rss: kb("VmRSS"), hwm: kb("VmHWM") };
}

function sha256Of(command: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const hash = createHash("sha256");
    const p = spawn("sh", ["-c", command], { stdio: ["ignore", "pipe", "inherit"] });
    p.stdout.on("data", (d: Buffer) => hash.update(d));
    p.once("error", reject);
    p.once("close", (code) => (code === 0 ? resolve(hash.digest("hex")) : reject(new Error(`${command}: exit ${code}`))));
  });
}

function dirBytes(dir: string): number {
  if (!existsSync(dir)) return 0;
  return readdirSync(dir).reduce((n, f) => n + statSync(join(dir, f)).size, 0);
}

const MB = (n: number) => `${(n / (1 << 20)).toFixed(1)} MiB`;

describe("disk spool under a stalled controller", () => {
  let fake: FakeController | undefined;
  let agent: ChildProcess | undefined;
  let workDir = "";
  afterEach(async () => {
    if (agent?.exitCode === null) agent.kill("SIGKILL");
    await fake?.stop();
    if (workDir) rmSync(workDir, { recursive: true, force: true });
  });

  it("keeps the agent's RSS bounded through a 200 MB flood, does not block the job, and loses nothing", async () => {
    fake = await FakeController.start({ autoAck: false });
    workDir = mkdtempSync(join(tmpdir(), "hodei-spool-rss-"));
    let stderr = "";
    // A separate process, so its RSS is the agent's alone: startAgent() with the
    // CLI's defaults (32 MiB memory window, 10 GiB spool), from source through tsx.
    agent = spawn(process.execPath, ["--import", "tsx", ENTRY, fake.address, workDir], { stdio: ["ignore", "ignore", "pipe"] });
    agent.stderr?.on("data", (d: Buffer) => (stderr += d.toString()));
    const pid = agent.pid!;
    await fake.waitFor((rs) => rs.find((r) => r.msg.$case === "hello"), "the agent's Hello", 30_000);
    await sleep(500);
    const idle = memoryOf(pid).rss;
    const expectedHash = sha256Of(`seq 1 ${LINES}`);

    let peakRss = 0;
    const sampler = setInterval(() => (peakRss = Math.max(peakRss, memoryOf(pid).rss)), 25);
    try {
      // Stalled: the controller reads nothing more and acknowledges nothing.
      fake.pauseReading();
      const done = join(workDir, "flood-done");
      fake.assign("flood", { script: `seq 1 ${LINES}\ntouch "$DONE"`, env: { DONE: done } });
      // The job is not blocked: it writes everything while nothing is read.
      await eventually(() => existsSync(done), "the job to write all its output", 120_000);
      await sleep(1_000); // let the agent read the pipe dry and spool it
      const spooled = dirBytes(join(workDir, "spool"));
      const stalled = memoryOf(pid);
      console.log(`stalled: spool ${MB(spooled)}, agent RSS ${MB(stalled.rss)}, peak sampled ${MB(peakRss)}, VmHWM ${MB(stalled.hwm)}`);
      expect(spooled).toBeGreaterThan(150 << 20);

      // The controller comes back: reads and acknowledges everything.
      fake.autoAck = true;
      fake.resumeReading();
      fake.ack("flood");
      const finished = await fake.finished("flood", 1, 120_000);
      expect(finished).toMatchObject({ reason: FinishReason.FINISH_REASON_EXITED, exitCode: 0 });
      // Every byte, in order: hash the stored chunks in sequence order.
      const got = createHash("sha256");
      let bytes = 0;
      const stored = fake.chunks.get("flood#1")!;
      for (let seq = 0; seq < finished.logChunks; seq++) {
        const chunk = stored.get(seq);
        expect(chunk, `chunk ${seq}`).toBeDefined();
        got.update(chunk!.data);
        bytes += chunk!.data.length;
      }
      expect(bytes).toBe(213_888_897);
      expect(got.digest("hex")).toBe(await expectedHash);
      // Fully acknowledged: the spool files are gone.
      await eventually(() => dirBytes(join(workDir, "spool")) === 0, "the spool to be deleted");
    } finally {
      clearInterval(sampler);
    }
    const { hwm } = memoryOf(pid);
    console.log(`agent RSS: idle ${MB(idle)}, peak over the whole test VmHWM ${MB(hwm)} (sampled max ${MB(peakRss)}); limit ${MB(PEAK_RSS_LIMIT)}`);
    expect(hwm).toBeGreaterThan(0);
    expect(hwm).toBeLessThan(PEAK_RSS_LIMIT);

    // And it leaves cleanly: SIGTERM → drain → exit 0.
    const exited = new Promise<number | null>((resolve) => agent!.once("exit", (code) => resolve(code)));
    agent.kill("SIGTERM");
    expect(await exited).toBe(0);
    expect(stderr).not.toMatch(/"level":50/); // no error logged
  });
});
