/**
 * npm run bench: a controller on real PostgreSQL and agents, each its own
 * process, driven over gRPC as the CLI drives them; and the secret masker's
 * MB/s with 0, 10 and 1,000 values (test/bench/mask.ts). Prints a table and JSON
 * (--out FILE writes the JSON). The peer measured in the same run is the
 * machine's raw child_process.spawn('true') rate at the same concurrency: no
 * job runner that spawns a process per job can beat it.
 *
 *   node dist/test/bench/bench.js [--runs 2000] [--agents 2] [--slots 4] [--latency-runs 200] [--log-lines 1000] [--mask-mib 64] [--out FILE]
 */
import { spawn } from "node:child_process";
import { writeFileSync, readFileSync } from "node:fs";
import { randomUUID } from "node:crypto";
import { parseArgs } from "node:util";
import pg from "pg";
import { startController, startAgent, HODEI, type ControllerProc, type Proc } from "../helpers/procs.js";
import { spawnRate } from "./spawn-rate.js";
import { maskRows, maskSection } from "./mask.js";
import { percentiles, type Percentiles } from "./stats.js";

const { values: opt } = parseArgs({
  options: {
    runs: { type: "string", default: "2000" },
    agents: { type: "string", default: "2" },
    slots: { type: "string", default: "4" },
    "latency-runs": { type: "string", default: "200" },
    "log-lines": { type: "string", default: "1000" },
    "mask-mib": { type: "string", default: "64" },
    "database-url": { type: "string", default: process.env.BENCH_DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/postgres" },
    out: { type: "string" },
  },
});
const N = Number(opt.runs);
const AGENTS = Number(opt.agents);
const SLOTS = Number(opt.slots);
const CONCURRENCY = AGENTS * SLOTS;

const job = (name: string, spec: Record<string, unknown>): string => JSON.stringify({ apiVersion: "hodei.dev/v1", kind: "Job", metadata: { name }, spec });
const now = (): number => performance.timeOrigin + performance.now();

async function freshDatabase(baseUrl: string): Promise<{ url: string; drop(): Promise<void> }> {
  const name = `hodei_bench_${Date.now()}`;
  const admin = new pg.Client({ connectionString: baseUrl });
  await admin.connect();
  await admin.query(`create database ${name}`);
  await admin.end();
  const url = new URL(baseUrl);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    drop: async () => {
      const c = new pg.Client({ connectionString: baseUrl });
      await c.connect();
      await c.query(`drop database if exists ${name} with (force)`);
      await c.end();
    },
  };
}

/** Submits N trivial runs with CONCURRENCY submits in flight; waits for all to end. */
async function throughput(c: ControllerProc): Promise<{ runs: number; runsPerSec: number; submitsPerSec: number; seconds: number; failed: number }> {
  const jobJson = job("bench-true", { command: ["true"] });
  const start = now();
  let submitted = 0;
  const ids: string[] = [];
  await Promise.all(
    Array.from({ length: CONCURRENCY * 2 }, async () => {
      while (submitted < N) {
        submitted++;
        const r = await c.client.submitRun({ jobJson, source: "bench", idempotencyKey: randomUUID() });
        ids.push(r.id);
      }
    }),
  );
  const submitSecs = (now() - start) / 1000;
  for (;;) {
    const active = await c.client.listRuns({ states: ["queued", "assigned", "running"], limit: 1 });
    if (active.length === 0) break;
    await new Promise((r) => setTimeout(r, 20));
  }
  const seconds = (now() - start) / 1000;
  const failed = (await c.client.listRuns({ states: ["failed", "timed_out", "cancelled"], limit: 1000 })).length;
  return { runs: N, runsPerSec: N / seconds, submitsPerSec: N / submitSecs, seconds, failed };
}

/** One run at a time on idle agents: created (in the database) → started (on the agent), and submit → end as the client sees it. */
async function latency(c: ControllerProc, count: number): Promise<{ submitToStart: Percentiles; submitToEnd: Percentiles }> {
  const jobJson = job("bench-latency", { command: ["true"] });
  const toStart: number[] = [];
  const toEnd: number[] = [];
  for (let i = 0; i < count; i++) {
    const t0 = now();
    const r = await c.client.submitRun({ jobJson, source: "bench", idempotencyKey: randomUUID() });
    const ended = await c.client.followLogs(r.id, { follow: true }, () => {});
    toEnd.push(now() - t0);
    if (ended) toStart.push(ended.startedAtMs - ended.createdAtMs);
  }
  return { submitToStart: percentiles(toStart), submitToEnd: percentiles(toEnd) };
}

/** A job writes timestamped lines; a `hodei logs -f` process reads them; latency = read time - write time. */
async function logLatency(c: ControllerProc, lines: number): Promise<{ lines: number; received: number; latency: Percentiles; mbPerSec: number }> {
  const script = `setTimeout(() => { let i = 0; const t = setInterval(() => { process.stdout.write((performance.timeOrigin + performance.now()).toFixed(3) + "\\n"); if (++i === ${lines}) clearInterval(t); }, 2); }, 1500);`;
  const run = await c.client.submitRun({ jobJson: job("bench-log-latency", { command: ["node", "-e", script] }), source: "bench", idempotencyKey: randomUUID() });
  const reader = spawn(process.execPath, [HODEI, "logs", run.id, "-f", "--controller", c.address], { stdio: ["ignore", "pipe", "inherit"] });
  const lat: number[] = [];
  let buf = "";
  reader.stdout.on("data", (d: Buffer) => {
    const t = now();
    buf += d.toString();
    const parts = buf.split("\n");
    buf = parts.pop() ?? "";
    for (const p of parts) if (p) lat.push(t - Number(p));
  });
  await new Promise((r) => reader.on("exit", r));
  // Throughput of the log path: a job writing 200 MiB, read back by hodei logs -f.
  const bytes = 200 * 1024 * 1024;
  const flood = await c.client.submitRun({
    jobJson: job("bench-log-flood", { command: ["node", "-e", `const b = Buffer.alloc(65536, 97); for (let i = 0; i < ${bytes / 65536}; i++) require("fs").writeSync(1, b);`] }),
    source: "bench",
    idempotencyKey: randomUUID(),
  });
  const t0 = now();
  let got = 0;
  await c.client.followLogs(flood.id, { follow: true }, (e) => {
    got += e.data.length;
  });
  const secs = (now() - t0) / 1000;
  if (got !== bytes) throw new Error(`log flood: got ${got} bytes of ${bytes}`);
  return { lines, received: lat.length, latency: percentiles(lat), mbPerSec: bytes / 1048576 / secs };
}

function peakRss(p: Proc): number {
  const status = readFileSync(`/proc/${p.proc.pid}/status`, "utf8");
  return Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? 0) * 1024;
}

async function main(): Promise<void> {
  const db = await freshDatabase(opt["database-url"]!);
  // Throughput, not abuse limits: the submit rate and queue caps (controller/api/limits.ts) are off here.
  const controller = await startController({ databaseUrl: db.url }, ["--submit-rate", "0", "--max-queued-per-project", "0"]);
  const agents: Proc[] = [];
  try {
    for (let i = 0; i < AGENTS; i++) agents.push(await startAgent(controller, { name: `bench-${i}`, slots: SLOTS }));
    process.stderr.write(`bench: ${AGENTS} agents x ${SLOTS} slots; ${N} runs\n`);
    const raw = await spawnRate(N, CONCURRENCY);
    const tp = await throughput(controller);
    const lat = await latency(controller, Number(opt["latency-runs"]));
    const logs = await logLatency(controller, Number(opt["log-lines"]));
    const masking = maskSection(Number(opt["mask-mib"]));
    const result = {
      date: new Date().toISOString(),
      machine: { node: process.version, cpus: (await import("node:os")).availableParallelism() },
      setup: { database: "postgresql", agents: AGENTS, slotsPerAgent: SLOTS, concurrency: CONCURRENCY },
      endToEnd: tp,
      peer: { name: "child_process.spawn('true'), stdout/stderr piped", concurrency: CONCURRENCY, spawnsPerSec: raw },
      ratioToSpawnLimit: tp.runsPerSec / raw,
      submitToStartMs: lat.submitToStart,
      submitToEndMs: lat.submitToEnd,
      logLineLatencyMs: logs.latency,
      logLines: { written: logs.lines, received: logs.received },
      logThroughputMBps: logs.mbPerSec,
      masking,
      memory: { controllerPeakRssMB: peakRss(controller) / 1048576, agentPeakRssMB: Math.max(...agents.map(peakRss)) / 1048576 },
    };
    printTable(result);
    const json = JSON.stringify(result, null, 2);
    process.stdout.write(json + "\n");
    if (opt.out) writeFileSync(opt.out, json + "\n");
  } finally {
    await Promise.all(agents.map((a) => a.stop()));
    await controller.stop();
    await db.drop();
  }
}

function printTable(r: {
  endToEnd: { runsPerSec: number; submitsPerSec: number; failed: number };
  peer: { spawnsPerSec: number };
  submitToStartMs: Percentiles;
  submitToEndMs: Percentiles;
  logLineLatencyMs: Percentiles;
  logThroughputMBps: number;
  memory: { controllerPeakRssMB: number; agentPeakRssMB: number };
  masking: Parameters<typeof maskRows>[0];
}): void {
  const rows: [string, string][] = [
    ["end-to-end runs/s (command: true)", r.endToEnd.runsPerSec.toFixed(0)],
    ["  submits/s", r.endToEnd.submitsPerSec.toFixed(0)],
    ["  failed runs", String(r.endToEnd.failed)],
    ["peer: raw spawn('true')/s, same concurrency", r.peer.spawnsPerSec.toFixed(0)],
    ["submit→start ms p50/p95/p99", fmt(r.submitToStartMs)],
    ["submit→end (client) ms p50/p95/p99", fmt(r.submitToEndMs)],
    ["log line latency ms p50/p95/p99", fmt(r.logLineLatencyMs)],
    ["log throughput MB/s (200 MiB job → logs -f)", r.logThroughputMBps.toFixed(1)],
    ...maskRows(r.masking),
    ["controller peak RSS MB", r.memory.controllerPeakRssMB.toFixed(0)],
    ["agent peak RSS MB", r.memory.agentPeakRssMB.toFixed(0)],
  ];
  const w = Math.max(...rows.map(([k]) => k.length));
  process.stderr.write(rows.map(([k, v]) => `${k.padEnd(w)}  ${v}`).join("\n") + "\n");
}

const fmt = (p: Percentiles): string => `${p.p50.toFixed(1)} / ${p.p95.toFixed(1)} / ${p.p99.toFixed(1)}`;

await main();
process.exit(0);
