/**
 * npm run bench:action: the GitHub Action's start-up time, from its process
 * starting (`node action/dist/index.js`, as the runner starts it) to the run
 * being submitted (its "Submitted run" line), in both modes:
 *
 *   - remote: against a running `hodei controller` (PGlite data dir) with one agent;
 *   - embedded: the Action starts the embedded controller and agent itself
 *     (a fresh data dir each time, as on a fresh runner), with `hodei` on PATH;
 *
 * beside `node -e 0` and the bundle loading and refusing bad inputs (its own
 * floor). Also the whole step (to exit) for a job that prints one line.
 * Medians and percentiles of --repeat runs; a table on stderr, JSON on stdout.
 *
 *   node dist/test/bench/action.js [--repeat 7] [--embedded-repeat 5] [--out FILE]
 */
import { spawn } from "node:child_process";
import { writeFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { ACTION, hodeiOnPath, startAction, step, workspace, type Step } from "../helpers/action.js";
import { startAgent, startController, tempDir } from "../helpers/procs.js";
import { percentiles, type Percentiles } from "./stats.js";

const { values: opt } = parseArgs({ options: { repeat: { type: "string", default: "7" }, "embedded-repeat": { type: "string", default: "5" }, out: { type: "string" } } });
const REPEAT = Number(opt.repeat);
const EMBEDDED_REPEAT = Number(opt["embedded-repeat"]);
const now = (): number => performance.timeOrigin + performance.now();

const ws = workspace({ ".hodei/jobs/hello.yaml": "apiVersion: hodei.dev/v1\nkind: Job\nmetadata: { name: hello }\nspec:\n  run: echo hello from hodei\n" });

/** One Action run: ms to "Submitted run", and to exit. */
function once(s: Step, inputs: Record<string, string>): Promise<{ submitted: number; total: number; started?: number }> {
  const t0 = now();
  let submitted = NaN;
  let started: number | undefined;
  const { done } = startAction(s, inputs, (out) => {
    if (started === undefined && out.includes("embedded serve: listening")) started = now() - t0;
    if (Number.isNaN(submitted) && out.includes("Submitted run ")) submitted = now() - t0;
  });
  return done.then((r) => {
    if (r.code !== 0) throw new Error(`the Action exited ${r.code}:\n${r.stdout}\n${r.stderr}`);
    return { submitted, total: now() - t0, started };
  });
}

function timedNode(args: string[], env: NodeJS.ProcessEnv = process.env): Promise<number> {
  return new Promise((resolve, reject) => {
    const t0 = now();
    const p = spawn(process.execPath, args, { stdio: "ignore", env });
    p.on("error", reject);
    p.on("close", () => resolve(now() - t0));
  });
}

const round = (p: Percentiles): Percentiles => ({ n: p.n, p50: Math.round(p.p50), p95: Math.round(p.p95), p99: Math.round(p.p99), max: Math.round(p.max) });

const results: Record<string, Percentiles> = {};
const floor: number[] = [];
const bundle: number[] = [];
for (let i = 0; i < REPEAT; i++) {
  floor.push(await timedNode(["-e", "0"]));
  // The bundle loading and refusing its inputs: everything before any network.
  bundle.push(await timedNode([ACTION], { PATH: process.env.PATH, GITHUB_OUTPUT: "/dev/null", GITHUB_STEP_SUMMARY: "/dev/null" }));
}
results["node -e 0"] = round(percentiles(floor));
results["bundle load + input check"] = round(percentiles(bundle));

// Remote: a controller and an agent already running, as a team's would be.
const controller = await startController({ dataDir: tempDir("hodei-bench-action-ctl-") });
const agent = await startAgent(controller, { name: "bench-action-agent", slots: 2 });
try {
  const sub: number[] = [];
  const tot: number[] = [];
  for (let i = 0; i < REPEAT; i++) {
    const r = await once(step(ws.dir, { sha: ws.sha }), { controller: controller.address, token: process.env.HODEI_ADMIN_TOKEN!, job: "hello" });
    sub.push(r.submitted);
    tot.push(r.total);
  }
  results["remote: start → submitted"] = round(percentiles(sub));
  results["remote: start → step done"] = round(percentiles(tot));
} finally {
  await agent.stop();
  await controller.stop();
}

// Embedded: nothing running; the Action starts the daemon (a new data dir, from the build's template) each time.
const bin = hodeiOnPath();
const up: number[] = [];
const sub: number[] = [];
const tot: number[] = [];
for (let i = 0; i < EMBEDDED_REPEAT; i++) {
  const r = await once(step(ws.dir, { sha: ws.sha, env: { PATH: `${bin}:${process.env.PATH}` } }), { mode: "embedded", job: "hello" });
  if (r.started !== undefined) up.push(r.started);
  sub.push(r.submitted);
  tot.push(r.total);
}
results["embedded: start → daemon listening"] = round(percentiles(up));
results["embedded: start → submitted"] = round(percentiles(sub));
results["embedded: start → step done (daemon stopped)"] = round(percentiles(tot));

const width = Math.max(...Object.keys(results).map((k) => k.length));
process.stderr.write(`\nGitHub Action start-up (ms; ${REPEAT} remote, ${EMBEDDED_REPEAT} embedded runs)\n`);
process.stderr.write(`${"".padEnd(width)}  ${"p50".padStart(6)} ${"p95".padStart(6)} ${"max".padStart(6)}\n`);
for (const [k, p] of Object.entries(results)) process.stderr.write(`${k.padEnd(width)}  ${String(p.p50).padStart(6)} ${String(p.p95).padStart(6)} ${String(p.max).padStart(6)}\n`);
const json = JSON.stringify({ node: process.version, results }, null, 2);
if (opt.out) writeFileSync(opt.out, `${json}\n`);
process.stdout.write(`${json}\n`);
process.exit(0);
