/**
 * npm run bench:watch: what watching costs.
 *
 *   - submit → seen: from SubmitRun's call until the run's "created" event
 *     reaches a WatchRuns stream of the same controller (a real `hodei
 *     controller` on PostgreSQL, over loopback gRPC); median of 50;
 *   - the watcher under a flood: the built `hodei watch RUN` in a real
 *     terminal (tmux, 120×40) showing the log of a job printing ~10 MB/s for
 *     10 s, with its CPU time (user + system, from /proc) and peak resident
 *     memory; the job's bytes and the log cap (10,000 lines) bound what it holds.
 *
 * Prints a table on stderr and JSON on stdout. Medians; the machine is shared,
 * so read the figures as orders of magnitude.
 *
 *   node dist/test/bench/watch.js [--submits 50] [--flood-seconds 10]
 */
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { createTestDatabase } from "../helpers/db.js";
import { HODEI, hodeiJson, startAgent, startController, tempDir } from "../helpers/procs.js";
import { Tmux } from "../helpers/tmux.js";
import type { RunWatchEvent } from "../../proto/gen/hodei/v1/control.js";
import { percentiles } from "./stats.js";

const { values: opt } = parseArgs({ options: { submits: { type: "string", default: "50" }, "flood-seconds": { type: "string", default: "10" } } });
const SUBMITS = Number(opt.submits);
const FLOOD_S = Number(opt["flood-seconds"]);
const job = (name: string): string => JSON.stringify({ apiVersion: "hodei.dev/v1", kind: "Job", metadata: { name }, spec: { run: "true" } });

/** utime + stime of a process, in ms; and its resident memory in MiB. */
function cpuMs(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100; // clock ticks (100/s on Linux)
}
const rssMb = (pid: number): number => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))![1]) / 1024;

async function main(): Promise<void> {
  const db = await createTestDatabase();
  const controller = await startController({ databaseUrl: db.url });
  const results: Record<string, unknown> = {};
  try {
    // 1. submit → seen in the stream.
    const stream = controller.client.openWatchRuns({ jobs: ["bench-watch"], snapshotLimit: 1 });
    const waiting = new Map<string, (t: number) => void>();
    const early = new Map<string, number>();
    stream.on("data", (ev: RunWatchEvent) => {
      if (!ev.run) return;
      const at = performance.now();
      const w = waiting.get(ev.run.id);
      if (w) w(at);
      else early.set(ev.run.id, at);
    });
    stream.on("error", () => {});
    await new Promise<void>((resolve) => stream.once("data", () => resolve()));
    const lat: number[] = [];
    for (let i = 0; i < SUBMITS; i++) {
      const t0 = performance.now();
      const run = await controller.client.submitRun({ jobJson: job("bench-watch"), source: "bench", idempotencyKey: "" });
      const seen = early.get(run.id) ?? (await new Promise<number>((resolve) => waiting.set(run.id, resolve)));
      lat.push(seen - t0);
    }
    stream.cancel();
    const p = percentiles(lat);
    results.submitToSeenMs = { median: p.p50, p95: p.p95, n: p.n };
    process.stderr.write(`submit → seen in WatchRuns: median ${p.p50.toFixed(1)} ms, p95 ${p.p95.toFixed(1)} ms (n=${p.n})\n`);
    for (const r of await controller.client.listRuns({ states: ["queued"], limit: 1000 })) await controller.client.cancelRun(r.id);

    // 2. the watcher under a ~10 MB/s log.
    const agent = await startAgent(controller, { name: "bench-watch-agent", slots: 1 });
    const dir = tempDir("hodei-bench-watch-");
    const flood = join(dir, "flood.js");
    // 100 KiB every 10 ms, as lines of 100 bytes with colour now and then.
    writeFileSync(flood, `const line = "\\x1b[32mok\\x1b[0m " + "x".repeat(95) + "\\n"; const block = line.repeat(1024);
const end = Date.now() + ${FLOOD_S * 1000}; const tick = () => { if (Date.now() > end) return; process.stdout.write(block, () => setTimeout(tick, 10)); }; tick();\n`);
    const file = join(dir, "flood.yaml");
    writeFileSync(file, `apiVersion: hodei.dev/v1\nkind: Job\nmetadata: { name: flood }\nspec:\n  run: exec '${process.execPath}' '${flood}'\n`);
    const run = await hodeiJson<{ id: string }>(["run", "-d", file], { env: { HODEI_CONTROLLER: controller.address } });
    const t = await Tmux.start(`exec env HODEI_CONTROLLER=${controller.address} HODEI_TOKEN=${process.env.HODEI_TOKEN} '${process.execPath}' '${HODEI}' watch ${run.id}`, 120, 40);
    try {
      const pid = Number((await t.display("#{pane_pid}")).trim());
      await t.waitFor((s) => s.includes("ok xxxx"), "the flood on screen");
      const cpu0 = cpuMs(pid);
      const w0 = performance.now();
      let peak = rssMb(pid);
      let done = false;
      while (!done) {
        peak = Math.max(peak, rssMb(pid));
        done = (await controller.client.getRun(run.id)).state === "succeeded";
        await new Promise((r) => setTimeout(r, 200));
      }
      await t.waitFor((s) => s.includes("complete"), "the watcher to catch up", { timeoutMs: 120_000 });
      const wall = performance.now() - w0;
      const cpu = cpuMs(pid) - cpu0;
      const got = await controller.client.getRun(run.id);
      results.flood = { seconds: FLOOD_S, logChunks: got.logChunks, watcherCpuPercent: (cpu / wall) * 100, watcherPeakRssMb: peak };
      process.stderr.write(`watcher with a ~10 MB/s log for ${FLOOD_S} s: CPU ${((cpu / wall) * 100).toFixed(0)}% of one core, peak RSS ${peak.toFixed(0)} MiB\n`);
    } finally {
      await t.kill();
      await agent.stop();
    }
  } finally {
    await controller.stop();
    await db.drop();
  }
  process.stdout.write(JSON.stringify(results, null, 2) + "\n");
}

await main();
