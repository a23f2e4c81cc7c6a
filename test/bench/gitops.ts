/**
 * npm run bench:gitops: what GitOps costs, with a peer measured in the same run.
 *
 *   - sync of a repository with 500 job files: first (empty mirror) and
 *     incremental (one commit changing one file), beside `git clone --mirror`
 *     and `git fetch` of the same repository (the git work alone);
 *   - push → run start by polling: a commit in the source repository until its
 *     run is running, with a 5 s poll interval (the wait is mostly the interval);
 *   - the controller's resident memory with 100 registered repositories,
 *     beside the same controller with none.
 *
 * Prints a table on stderr and JSON on stdout. Medians; the machine is shared,
 * so read the ratios.
 *
 *   node dist/test/bench/gitops.js [--pushes 5]
 */
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { pino } from "pino";
import { createTestDatabase } from "../helpers/db.js";
import { createRepo, jobYaml } from "../helpers/git.js";
import { hodei, hodeiJson, startAgent, startController, tempDir } from "../helpers/procs.js";
import { openStore } from "../../controller/store/db.js";
import { insertRepo } from "../../controller/store/repos.js";
import { Syncer } from "../../controller/gitops/sync.js";
import { percentiles } from "./stats.js";

const { values: opt } = parseArgs({ options: { pushes: { type: "string", default: "5" }, repos: { type: "string", default: "100" } } });
const PUSHES = Number(opt.pushes);
const REPOS = Number(opt.repos);
const ms = (t0: number): number => performance.now() - t0;
const rssMb = (pid: number): number => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))![1]) / 1024;

async function syncCost(): Promise<Record<string, number>> {
  const repo = createRepo("hodei-bench-git-");
  const files: Record<string, string> = {};
  for (let i = 0; i < 500; i++) files[`.hodei/job-${i}.yaml`] = jobYaml(`job-${i}`, `run: echo ${i}\ntriggers: { push: { branches: [main], paths: ["src/${i}/**"] } }`);
  repo.commit(files, "500 jobs");
  const db = await createTestDatabase();
  const store = await openStore({ databaseUrl: db.url, migrate: false });
  try {
    const row = (await insertRepo(store.db, { name: "big", url: repo.dir, branch: "main", path: ".hodei", platform: false, pollIntervalMs: 0 }))!;
    const syncer = new Syncer(store.db, tempDir(), pino({ level: "silent" }));
    let t0 = performance.now();
    const first = await syncer.sync(row, "manual");
    const firstMs = ms(t0);
    if (first.errors.length) throw new Error(first.errors.join("\n"));
    repo.commit({ ".hodei/job-7.yaml": jobYaml("job-7", "run: echo changed") }, "one change");
    t0 = performance.now();
    await syncer.sync(row, "manual");
    const incMs = ms(t0);
    // The peer: git's own work on the same repository.
    const peerDir = tempDir();
    t0 = performance.now();
    execFileSync("git", ["clone", "-q", "--mirror", repo.dir, join(peerDir, "m.git")]);
    const cloneMs = ms(t0);
    repo.commit({ ".hodei/job-8.yaml": jobYaml("job-8", "run: echo changed") }, "another");
    t0 = performance.now();
    execFileSync("git", ["-C", join(peerDir, "m.git"), "fetch", "-q", "--prune", "origin"]);
    const fetchMs = ms(t0);
    return { syncFirstMs: firstMs, gitCloneMirrorMs: cloneMs, syncIncrementalMs: incMs, gitFetchMs: fetchMs };
  } finally {
    await store.close();
    await db.drop();
  }
}

async function pollLatency(): Promise<Record<string, number>> {
  const db = await createTestDatabase();
  const c = await startController({ databaseUrl: db.url }, ["--mirrors-dir", tempDir()]);
  const a = await startAgent(c, { name: "bench-agent", slots: 4 });
  const env = { HODEI_CONTROLLER: c.address };
  try {
    const repo = createRepo("hodei-bench-poll-");
    repo.commit({ ".hodei/j.yaml": jobYaml("pushed", "run: 'true'\ntriggers: { push: { branches: [main] } }") });
    await hodei(["repos", "add", repo.dir, "--name", "polled", "--poll-interval", "5s"], { env });
    const lat: number[] = [];
    for (let i = 0; i < PUSHES; i++) {
      const sha = repo.commit({ [`src/${i}.txt`]: String(i) }, `push ${i}`);
      const t0 = Date.now();
      for (;;) {
        const runs = (await c.client.listRuns({ limit: 5, jobName: "pushed" })).filter((r) => r.source.includes(sha.slice(0, 12)));
        const started = runs.find((r) => r.startedAtMs);
        if (started) {
          lat.push(started.startedAtMs - t0);
          break;
        }
        await new Promise((r) => setTimeout(r, 20));
      }
    }
    const p = percentiles(lat);
    return { pollToStartP50Ms: p.p50, pollToStartMaxMs: Math.max(...lat) };
  } finally {
    await a.stop();
    await c.stop();
    await db.drop();
  }
}

async function memory(): Promise<Record<string, number>> {
  const db = await createTestDatabase();
  const c = await startController({ databaseUrl: db.url }, ["--mirrors-dir", tempDir()]);
  const env = { HODEI_CONTROLLER: c.address };
  try {
    await new Promise((r) => setTimeout(r, 2000));
    const idle = rssMb(c.proc.pid!);
    const repos = Array.from({ length: REPOS }, (_, i) => {
      const r = createRepo("hodei-bench-mem-");
      r.commit({ ".hodei/j.yaml": jobYaml(`j${i}`, "run: 'true'\ntriggers: { push: {} }") });
      return r;
    });
    for (let i = 0; i < repos.length; i += 10) {
      await Promise.all(repos.slice(i, i + 10).map((r, k) => hodei(["repos", "add", r.dir, "--name", `m${i + k}`, "--poll-interval", "60s"], { env })));
    }
    const listed = await hodeiJson<{ repos: unknown[] }>(["repos", "ls"], { env });
    await new Promise((r) => setTimeout(r, 2000));
    return { controllerIdleRssMb: idle, controllerRssWithReposMb: rssMb(c.proc.pid!), repos: listed.repos.length };
  } finally {
    await c.stop();
    await db.drop();
  }
}

const results = { ...(await syncCost()), ...(await pollLatency()), ...(await memory()) };
const rows: [string, string][] = [
  ["sync, 500 job files, first (empty mirror)", `${results.syncFirstMs!.toFixed(0)} ms  (git clone --mirror alone: ${results.gitCloneMirrorMs!.toFixed(0)} ms, ratio ${(results.syncFirstMs! / results.gitCloneMirrorMs!).toFixed(1)})`],
  ["sync, 500 job files, incremental (1 file)", `${results.syncIncrementalMs!.toFixed(0)} ms  (git fetch alone: ${results.gitFetchMs!.toFixed(0)} ms, ratio ${(results.syncIncrementalMs! / results.gitFetchMs!).toFixed(1)})`],
  [`push → run start by polling (5 s interval), ${PUSHES} pushes`, `p50 ${results.pollToStartP50Ms!.toFixed(0)} ms, max ${results.pollToStartMaxMs!.toFixed(0)} ms`],
  [`controller RSS, ${results.repos} repos / none`, `${results.controllerRssWithReposMb!.toFixed(0)} MB / ${results.controllerIdleRssMb!.toFixed(0)} MB`],
];
process.stderr.write(rows.map(([k, v]) => `${k.padEnd(50)} ${v}`).join("\n") + "\n");
process.stdout.write(JSON.stringify(results, null, 2) + "\n");
process.exit(0);
