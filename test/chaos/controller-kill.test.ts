/**
 * Issue 3, scenario 1: kill -9 the controller while 200 runs are in flight on
 * three agents, restart it on the same database and port. Every run must end
 * in exactly one terminal state with its job's exit code, and every stored log
 * must equal byte for byte what the job wrote. The counts of lost, duplicated
 * and reordered runs and lines are printed (all must be 0).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { dirname, join } from "node:path";
import { createTestDatabase, type TestDatabase } from "../helpers/db.js";
import type { Run } from "../../proto/gen/hodei/v1/control.js";
import { startAgent, eventually, type Proc } from "../helpers/procs.js";
import { grep, jobJson, kill9, sleep, spawnController, stopAgent, storedLog, submitWithRetry, summary, TERMINAL, type ChaosController } from "./harness.js";

const RUNS = 200;
const LINES = 50;
const PAD = "0123456789abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMNOP"; // 62 bytes: ~4 KiB per run
const JOB = "chaos-kill";
// Deterministic output in bursts (10 sleeps), every 10th line also on stderr, and an exit code from the run id.
const SCRIPT = `for i in $(seq 1 ${LINES}); do
  printf '%s line %03d %s\\n' "$HODEI_RUN_ID" "$i" "$PAD"
  if (( i % 10 == 0 )); then printf '%s err %03d\\n' "$HODEI_RUN_ID" "$i" >&2; fi
  if (( i % 5 == 0 )); then sleep 0.1; fi
done
exit $((HODEI_RUN_ID % 3))
`;

function expectedStdout(id: string): Buffer {
  let s = "";
  for (let i = 1; i <= LINES; i++) s += `${id} line ${String(i).padStart(3, "0")} ${PAD}\n`;
  return Buffer.from(s);
}
function expectedStderr(id: string): Buffer {
  let s = "";
  for (let i = 10; i <= LINES; i += 10) s += `${id} err ${String(i).padStart(3, "0")}\n`;
  return Buffer.from(s);
}

interface LineCounts {
  lost: number;
  duplicated: number;
  reordered: number;
  garbled: number;
}

/** Compares the stored lines of one run with the expected ones: which are missing, repeated, out of order or not ours. */
function countLines(stored: Buffer, expected: Buffer): LineCounts {
  const want = expected.toString().split("\n").filter(Boolean);
  const index = new Map(want.map((l, i) => [l, i]));
  const seen = new Set<number>();
  const c: LineCounts = { lost: 0, duplicated: 0, reordered: 0, garbled: 0 };
  let max = -1;
  for (const line of stored.toString().split("\n").filter(Boolean)) {
    const i = index.get(line);
    if (i === undefined) {
      c.garbled++;
      continue;
    }
    if (seen.has(i)) {
      c.duplicated++;
      continue;
    }
    if (i < max) c.reordered++;
    max = Math.max(max, i);
    seen.add(i);
  }
  c.lost = want.length - seen.size;
  return c;
}

let db: TestDatabase;
let controller: ChaosController;
const agents: Proc[] = [];

beforeAll(async () => {
  db = await createTestDatabase();
  controller = await spawnController({ database: { databaseUrl: db.url }, extra: ["--heartbeat-interval", "500ms"] });
  for (const n of [1, 2, 3]) agents.push(await startAgent(controller, { name: `kill-agent-${n}`, slots: 4 }));
});

afterAll(async () => {
  await Promise.all(agents.map(stopAgent));
  await controller?.stop();
  await db?.drop();
});

describe("kill -9 of the controller with 200 runs in flight", () => {
  it("loses, duplicates and reorders nothing: one terminal state per run, the job's exit code, byte-exact logs", async () => {
    const client = () => controller.client;
    const job = jobJson(JOB, { run: SCRIPT, env: { PAD } });
    const keys = Array.from({ length: RUNS }, (_, i) => `chaos-kill-${i}`);
    const ids = new Map<string, string>(); // key -> run id
    let submitErrors = 0;

    // Submits keep going (20 at a time) while the controller is killed and restarted: each retries with its key.
    const submitting = (async () => {
      let next = 0;
      await Promise.all(
        Array.from({ length: 20 }, async () => {
          while (next < keys.length) {
            const key = keys[next++]!;
            const run = await submitWithRetry(client, job, key, { timeoutMs: 180_000, onError: () => submitErrors++ });
            ids.set(key, run.id);
          }
        }),
      );
    })();
    submitting.catch(() => {}); // awaited below; handled here too in case the test fails first

    // In flight: some runs over, several running on the agents.
    const atKill = await eventually(async () => {
      const runs = await client().listRuns({ limit: 1000, jobName: JOB });
      const ended = runs.filter((r) => TERMINAL.has(r.state)).length;
      const running = runs.filter((r) => r.state === "running" || r.state === "assigned").length;
      return ended >= 20 && running >= 6 ? { submitted: runs.length, ended, running } : undefined;
    }, "runs in flight", 120_000);
    await kill9(controller);
    console.log(`[controller-kill] killed the controller (pid ${controller.pid}) with ${atKill.submitted} runs submitted, ${atKill.ended} ended, ${atKill.running} assigned/running`);

    // Down for a few heartbeat intervals: agents lose the stream, finish runs and hold their results.
    await sleep(3_000);
    const logDir = dirname(controller.logFile);
    controller = await spawnController({
      database: { databaseUrl: db.url },
      listen: controller.address,
      extra: ["--heartbeat-interval", "500ms"],
      logFile: join(logDir, "controller-2.log"),
    });
    console.log(`[controller-kill] restarted the controller on ${controller.address}; logs in ${logDir}`);
    const listeningAt = Date.now();
    await eventually(async () => ((await client().listAgents()).agents.filter((a) => a.state === "connected").length === agents.length ? true : undefined), "every agent to reconnect", 60_000);
    console.log(`[controller-kill] all ${agents.length} agents reconnected ${Date.now() - listeningAt} ms after the controller listened again (informational)`);

    await submitting;
    expect(ids.size).toBe(RUNS);
    const listed = await eventually(
      async () => {
        const runs = await client().listRuns({ limit: 1000, jobName: JOB });
        return runs.length >= RUNS && runs.every((r) => TERMINAL.has(r.state)) ? runs : undefined;
      },
      "every run to end",
      240_000,
    ).catch(async (err: Error) => {
      const runs = await client().listRuns({ limit: 1000, jobName: JOB });
      const stuck = runs.filter((r) => !TERMINAL.has(r.state));
      throw new Error(
        `${err.message}: ${stuck.length} of ${runs.length} not ended, e.g. ${JSON.stringify(stuck.slice(0, 5).map(summary))}\n` +
          `controller-2.log:\n${grep(controller.logFile, /warn|error|reconcil|requeue/i).join("\n")}`,
      );
    });

    // ListRuns leaves out the attempts; GetRun has them.
    const ended: Run[] = [];
    for (const r of listed) ended.push(await client().getRun(r.id));

    // Runs: one per key (the source carries the key), each executed once, with the right outcome.
    const bySource = new Map<string, number>();
    for (const r of ended) bySource.set(r.source, (bySource.get(r.source) ?? 0) + 1);
    const runCounts = {
      submitted: RUNS,
      stored: ended.length,
      lost: keys.filter((k) => !bySource.has(`chaos:${k}`)).length,
      duplicated: [...bySource.values()].reduce((n, c) => n + c - 1, 0),
      // Executed more than once: more than one attempt that started. (An attempt the controller
      // requeued before it started, as attempt + 1 to fence the old one off, ran nowhere.)
      reexecuted: ended.filter((r) => r.attempts.filter((a) => a.startedAtMs > 0).length > 1).length,
      wrongOutcome: 0,
    };
    const requeuedBeforeStart = ended.filter((r) => r.attempt > 1).length;
    const wrong: unknown[] = [];
    for (const r of ended) {
      const code = Number(r.id) % 3;
      const ok = r.reason === "exited" && r.exitCode === code && r.state === (code === 0 ? "succeeded" : "failed");
      if (!ok) {
        runCounts.wrongOutcome++;
        if (wrong.length < 10) wrong.push(summary(r));
      }
    }

    // Logs: byte for byte, and line by line for the counts.
    const lineCounts: LineCounts & { expected: number; runsNotByteExact: number; seqGaps: number } = { expected: 0, lost: 0, duplicated: 0, reordered: 0, garbled: 0, runsNotByteExact: 0, seqGaps: 0 };
    const mismatched: unknown[] = [];
    for (const r of ended) {
      const log = await storedLog(controller.client, r.id);
      const out = expectedStdout(r.id);
      const err = expectedStderr(r.id);
      lineCounts.expected += LINES + LINES / 10;
      lineCounts.seqGaps += log.seqGaps;
      for (const c of [countLines(log.stdout, out), countLines(log.stderr, err)]) {
        lineCounts.lost += c.lost;
        lineCounts.duplicated += c.duplicated;
        lineCounts.reordered += c.reordered;
        lineCounts.garbled += c.garbled;
      }
      if (!log.stdout.equals(out) || !log.stderr.equals(err)) {
        lineCounts.runsNotByteExact++;
        if (mismatched.length < 5) mismatched.push({ run: summary(r), stdoutBytes: log.stdout.length, wantStdout: out.length, stderrBytes: log.stderr.length, wantStderr: err.length, head: log.all.subarray(0, 200).toString() });
      }
    }

    console.log(`[controller-kill] submit errors retried: ${submitErrors}`);
    console.log(`[controller-kill] runs: ${JSON.stringify(runCounts)} (informational: ${requeuedBeforeStart} ran as attempt > 1)`);
    console.log(`[controller-kill] lines: ${JSON.stringify(lineCounts)}`);
    if (wrong.length) {
      console.log(`[controller-kill] wrong outcomes, e.g.: ${JSON.stringify(wrong, null, 1)}`);
      console.log(`[controller-kill] ${controller.logFile}:\n${grep(controller.logFile, /listening|lost|agent connected|reconcil/i, 20).join("\n")}`);
      for (const a of agents) console.log(`[controller-kill] ${a.logFile}:\n${grep(a.logFile, /reconnecting|connected to the controller/, 4).join("\n")}`);
    }
    if (mismatched.length) console.log(`[controller-kill] logs not byte-exact, e.g.: ${JSON.stringify(mismatched, null, 1)}`);

    expect(runCounts).toEqual({ submitted: RUNS, stored: RUNS, lost: 0, duplicated: 0, reexecuted: 0, wrongOutcome: 0 });
    expect(lineCounts).toEqual({ expected: RUNS * (LINES + LINES / 10), lost: 0, duplicated: 0, reordered: 0, garbled: 0, runsNotByteExact: 0, seqGaps: 0 });
  }, 600_000);
});
