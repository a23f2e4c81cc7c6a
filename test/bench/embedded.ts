/**
 * npm run bench:embedded: what the embedded daemon costs a user, beside its
 * peer measured in the same run, a standalone `hodei controller` (PGlite data
 * dir, the same store) plus one `hodei agent`, reached with `--controller`.
 * Prints a table on stderr and JSON on stdout (--out FILE writes the JSON).
 *
 *   - `hodei --version`, wall time of the whole process, beside `node -e 0`;
 *   - a warm `hodei run examples/hello/.hodei/jobs/hello.yaml` on the embedded
 *     daemon (already running) and the same through `--controller`, taken in
 *     turns, and their ratio;
 *   - the same run on a fresh data dir (no daemon, no database yet), measured
 *     first, while nothing else of Hodei runs;
 *   - resident memory of the idle daemon and of its agent child (and of the peer's);
 *   - live-log latency: a job writes a timestamped line every 2 ms (500 lines/s),
 *     `hodei run` prints it; latency = time printed - time written.
 *
 * Medians of --repeat runs; the machine is shared, so read the ratios.
 *
 *   node dist/test/bench/embedded.js [--repeat 7] [--fresh 5] [--log-lines 2000] [--out FILE]
 */
import { spawn } from "node:child_process";
import { mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { HODEI, ROOT, startAgent, startController, tempDir, type ControllerProc, type Proc } from "../helpers/procs.js";
import { percentiles, type Percentiles } from "./stats.js";

const { values: opt } = parseArgs({
  options: {
    repeat: { type: "string", default: "7" },
    fresh: { type: "string", default: "5" },
    "log-lines": { type: "string", default: "2000" },
    out: { type: "string" },
  },
});
const REPEAT = Number(opt.repeat);
const FRESH = Number(opt.fresh);
const LOG_LINES = Number(opt["log-lines"]);
const HELLO = join(ROOT, "examples/hello/.hodei/jobs/hello.yaml");

const now = (): number => performance.timeOrigin + performance.now();
const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

/** Runs `hodei ARGS` to its end; wall milliseconds. Fails on a non-zero exit. */
function timed(args: string[], env: NodeJS.ProcessEnv): Promise<number> {
  return new Promise((resolve, reject) => {
    const t0 = now();
    const p = spawn(process.execPath, [HODEI, ...args], { cwd: ROOT, env: { ...process.env, HODEI_CONTROLLER: "", ...env }, stdio: ["ignore", "ignore", "pipe"] });
    let err = "";
    p.stderr.on("data", (d: Buffer) => (err += d.toString()));
    p.on("error", reject);
    p.on("close", (code) => (code === 0 ? resolve(now() - t0) : reject(new Error(`hodei ${args.join(" ")} exited ${code}:\n${err}`))));
  });
}

/** `node -e 0`: wall milliseconds. */
function nodeOnly(): Promise<number> {
  return new Promise((resolve, reject) => {
    const t0 = now();
    const p = spawn(process.execPath, ["-e", "0"], { stdio: "ignore" });
    p.on("error", reject);
    p.on("close", () => resolve(now() - t0));
  });
}

/** VmRSS of a process in MB (Linux). */
function rssMB(pid: number): number {
  const m = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return m ? Number(m[1]) / 1024 : NaN;
}

/** The pids whose parent is `pid` (Linux /proc). */
function childrenOf(pid: number): number[] {
  const out: number[] = [];
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, "utf8");
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      if (ppid === pid) out.push(Number(name));
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

function daemonPid(dataDir: string): number {
  return (JSON.parse(readFileSync(join(dataDir, "db.lock"), "utf8")) as { pid: number }).pid;
}

/** A job that writes LOG_LINES timestamped lines, one every 2 ms (500 lines/s). */
function logJobFile(): string {
  const dir = tempDir("hodei-bench-logjob-");
  const script = `let i = 0; const t = setInterval(() => { process.stdout.write((performance.timeOrigin + performance.now()).toFixed(3) + "\\n"); if (++i === ${LOG_LINES}) clearInterval(t); }, 2);`;
  const file = join(dir, "log500.yaml");
  writeFileSync(file, `apiVersion: hodei.dev/v1\nkind: Job\nmetadata: { name: log500 }\nspec:\n  command: [node, -e, ${JSON.stringify(script)}]\n`);
  return file;
}

/** `hodei run FILE` of the log job: latency of each line, from the job's write to hodei's print. */
function logLatency(file: string, args: string[], env: NodeJS.ProcessEnv): Promise<{ received: number; latency: Percentiles }> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [HODEI, "run", file, "--no-source", ...args], { cwd: ROOT, env: { ...process.env, HODEI_CONTROLLER: "", ...env }, stdio: ["ignore", "pipe", "pipe"] });
    const lat: number[] = [];
    let buf = "";
    let err = "";
    p.stderr.on("data", (d: Buffer) => (err += d.toString()));
    p.stdout.on("data", (d: Buffer) => {
      const t = now();
      buf += d.toString();
      const parts = buf.split("\n");
      buf = parts.pop() ?? "";
      for (const x of parts) if (x) lat.push(t - Number(x));
    });
    p.on("close", (code) => (code === 0 ? resolve({ received: lat.length, latency: percentiles(lat) }) : reject(new Error(`log job exited ${code}:\n${err}`))));
  });
}

async function main(): Promise<void> {
  const work = tempDir("hodei-bench-embedded-");
  const warmDir = join(work, "warm");
  const embeddedEnv = { HODEI_DATA_DIR: warmDir };
  let peer: ControllerProc | undefined;
  let agent: Proc | undefined;
  try {
    process.stderr.write(`bench:embedded: ${REPEAT} repeats, ${FRESH} fresh data dirs\n`);
    // hodei --version
    // Its peer: Node starting and exiting, nothing loaded (no CLI can start faster).
    const version: number[] = [];
    const bareNode: number[] = [];
    for (let i = 0; i < REPEAT; i++) {
      version.push(await timed(["--version"], embeddedEnv));
      bareNode.push(await nodeOnly());
    }

    // Fresh data dirs: no daemon, no database, nothing else of Hodei running yet.
    const fresh: number[] = [];
    for (let i = 0; i < FRESH; i++) {
      const dir = join(work, `fresh-${i}`);
      fresh.push(await timed(["run", HELLO], { HODEI_DATA_DIR: dir }));
      await timed(["embedded", "stop"], { HODEI_DATA_DIR: dir });
      rmSync(dir, { recursive: true, force: true });
    }

    // The peer: a standalone controller on PGlite and one agent.
    const peerDir = join(work, "peer");
    mkdirSync(peerDir, { recursive: true });
    peer = await startController({ dataDir: join(peerDir, "db") });
    agent = await startAgent(peer, { name: "bench-peer", slots: 2 });
    const peerArgs = ["--controller", peer.address];

    // Warm: start the embedded daemon with one run (not counted), then take turns.
    await timed(["run", HELLO], embeddedEnv);
    await timed(["run", HELLO, ...peerArgs], {});
    const warm: number[] = [];
    const viaController: number[] = [];
    for (let i = 0; i < REPEAT; i++) {
      warm.push(await timed(["run", HELLO], embeddedEnv));
      viaController.push(await timed(["run", HELLO, ...peerArgs], {}));
    }

    // Idle memory: a few seconds after the last run.
    await new Promise((r) => setTimeout(r, 5_000));
    const dpid = daemonPid(warmDir);
    const kids = childrenOf(dpid);
    const daemonRss = rssMB(dpid);
    const agentRss = kids.length ? Math.max(...kids.map(rssMB)) : NaN;
    const memory = {
      embeddedDaemonRssMB: daemonRss,
      embeddedAgentRssMB: agentRss,
      embeddedTotalRssMB: daemonRss + agentRss,
      peerControllerRssMB: rssMB(peer.proc.pid!),
      peerAgentRssMB: rssMB(agent.proc.pid!),
    };

    // Live-log latency at 500 lines/s, embedded and through --controller.
    const logFile = logJobFile();
    const logEmbedded = await logLatency(logFile, [], embeddedEnv);
    const logPeer = await logLatency(logFile, peerArgs, {});

    const result = {
      date: new Date().toISOString(),
      machine: { node: process.version, cpus: (await import("node:os")).availableParallelism() },
      repeats: REPEAT,
      versionMs: { median: median(version), bareNodeMedian: median(bareNode), ratio: median(version) / median(bareNode), all: version, bareNodeAll: bareNode },
      warmRunMs: { embedded: median(warm), viaController: median(viaController), ratio: median(warm) / median(viaController), embeddedAll: warm, viaControllerAll: viaController },
      freshRunMs: { median: median(fresh), all: fresh },
      idleMemory: memory,
      logLatencyMs: { linesPerSec: 500, written: LOG_LINES, embedded: { received: logEmbedded.received, ...logEmbedded.latency }, viaController: { received: logPeer.received, ...logPeer.latency } },
    };
    printTable(result);
    const json = JSON.stringify(result, null, 2);
    process.stdout.write(json + "\n");
    if (opt.out) writeFileSync(opt.out, json + "\n");
  } finally {
    await timed(["embedded", "stop"], embeddedEnv).catch(() => {});
    await agent?.stop();
    await peer?.stop();
    rmSync(work, { recursive: true, force: true });
  }
}

function printTable(r: {
  versionMs: { median: number; bareNodeMedian: number; ratio: number };
  warmRunMs: { embedded: number; viaController: number; ratio: number };
  freshRunMs: { median: number };
  idleMemory: { embeddedDaemonRssMB: number; embeddedAgentRssMB: number; embeddedTotalRssMB: number; peerControllerRssMB: number; peerAgentRssMB: number };
  logLatencyMs: { embedded: Percentiles & { received: number }; viaController: Percentiles & { received: number } };
}): void {
  const m = r.idleMemory;
  const lat = (p: Percentiles & { received: number }): string => `${p.p50.toFixed(1)} / ${p.p95.toFixed(1)} (${p.received} lines)`;
  const rows: [string, string, string][] = [
    ["", "embedded", "--controller peer"],
    ["hodei --version ms (median; peer: node -e 0)", r.versionMs.median.toFixed(0), `${r.versionMs.bareNodeMedian.toFixed(0)} (node -e 0)`],
    ["  ratio --version / node -e 0", r.versionMs.ratio.toFixed(2), ""],
    ["warm hodei run hello ms (median)", r.warmRunMs.embedded.toFixed(0), r.warmRunMs.viaController.toFixed(0)],
    ["  ratio embedded / --controller", r.warmRunMs.ratio.toFixed(2), ""],
    ["fresh data dir hodei run hello ms (median)", r.freshRunMs.median.toFixed(0), ""],
    ["idle RSS MB: controller (daemon)", m.embeddedDaemonRssMB.toFixed(0), m.peerControllerRssMB.toFixed(0)],
    ["idle RSS MB: agent", m.embeddedAgentRssMB.toFixed(0), m.peerAgentRssMB.toFixed(0)],
    ["idle RSS MB: both", m.embeddedTotalRssMB.toFixed(0), (m.peerControllerRssMB + m.peerAgentRssMB).toFixed(0)],
    ["live log latency ms p50 / p95 (500 lines/s)", lat(r.logLatencyMs.embedded), lat(r.logLatencyMs.viaController)],
  ];
  const w0 = Math.max(...rows.map((x) => x[0].length));
  const w1 = Math.max(...rows.map((x) => x[1].length));
  process.stderr.write(rows.map(([k, a, b]) => `${k.padEnd(w0)}  ${a.padEnd(w1)}  ${b}`).join("\n") + "\n");
}

await main();
process.exit(0);
