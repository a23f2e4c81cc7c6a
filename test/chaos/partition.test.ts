/**
 * Issue 3, scenario 4: the network between an agent and the controller is cut
 * (the agent dials a TCP proxy that the test turns into a black hole; see
 * test/helpers/proxy.ts for why not network namespaces).
 *
 * - A cut longer than the heartbeat interval but shorter than the lost-agent
 *   grace: the job goes on and its log arrives complete once the cut heals.
 * - A cut beyond the grace: the run is retried on another agent, and the old
 *   attempt's late results are refused: the final attempt is 2, attempt 1
 *   ended failed/infrastructure, and its late RunFinished changes nothing.
 *
 * Controller: heartbeat every 500 ms, lost after 10 intervals (5 s).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestDatabase, type TestDatabase } from "../helpers/db.js";
import { startAgent, eventually, type Proc } from "../helpers/procs.js";
import { startProxy, type TcpProxy } from "../helpers/proxy.js";
import { grep, jobJson, sleep, spawnController, stopAgent, storedLog, submitWithRetry, summary, untilUptime, waitEnded, waitRun, type ChaosController } from "./harness.js";

const HEARTBEAT_MS = 500;
const LOST_AFTER = 10; // intervals
const GRACE_MS = HEARTBEAT_MS * LOST_AFTER;
const SHORT_CUT_MS = 2_000; // 4 heartbeat intervals, 3 s short of the grace
const LONG_CUT_MIN_MS = GRACE_MS + 3_000;

const script = (lines: number): string => `for i in $(seq 1 ${lines}); do echo "attempt $HODEI_ATTEMPT line $i"; sleep 0.1; done\n`;
const expected = (attempt: number, lines: number): string => Array.from({ length: lines }, (_, i) => `attempt ${attempt} line ${i + 1}\n`).join("");

let db: TestDatabase;
let controller: ChaosController;
let proxy: TcpProxy;
let behind: Proc | undefined; // dials the proxy
let other: Proc | undefined; // dials the controller directly

beforeAll(async () => {
  db = await createTestDatabase();
  controller = await spawnController({
    database: { databaseUrl: db.url },
    extra: ["--heartbeat-interval", `${HEARTBEAT_MS}ms`, "--agent-lost-after", String(LOST_AFTER)],
  });
  proxy = await startProxy(controller.address);
  behind = await startAgent({ ...controller, address: proxy.address }, { name: "behind-proxy", slots: 1 });
});

afterAll(async () => {
  proxy?.heal();
  await stopAgent(behind);
  await stopAgent(other);
  await proxy?.close();
  await controller?.stop();
  await db?.drop();
});

const logs = (): string =>
  `controller.log:\n${grep(controller.logFile, /agent|attempt|lost|refus|fenc|ignor/i, 30).join("\n")}\nagent.log (behind-proxy):\n${grep(behind!.logFile, /connect|stream|warn|error|run/i, 30).join("\n")}`;

describe("a network cut between an agent and the controller", () => {
  it(`shorter than the grace (${SHORT_CUT_MS} ms < ${GRACE_MS} ms): the job goes on and its log arrives complete`, async () => {
    const client = () => controller.client;
    const lines = 60;
    const run = await submitWithRetry(client, jobJson("short-cut", { run: script(lines) }), "short-cut-1");
    await waitRun(client, run.id, (r) => r.state === "running" && r.logChunks >= 3, "to run with some output");
    proxy.cut();
    const chunksAtCut = (await client().getRun(run.id)).logChunks;
    await sleep(SHORT_CUT_MS);
    const chunksAtHeal = (await client().getRun(run.id)).logChunks;
    proxy.heal();
    console.log(`[partition] short cut: ${SHORT_CUT_MS} ms; stored chunks ${chunksAtCut} at the cut, ${chunksAtHeal} just before the heal`);

    const ended = await waitEnded(client, run.id, 60_000).catch((err: Error) => {
      throw new Error(`${err.message}\n${logs()}`);
    });
    console.log(`[partition] short cut run: ${JSON.stringify(summary(ended))}`);
    expect(ended).toMatchObject({ state: "succeeded", attempt: 1, exitCode: 0, agentName: "behind-proxy" });
    expect(ended.attempts.filter((a) => a.attempt !== 1)).toEqual([]);
    const log = await storedLog(controller.client, run.id);
    expect(log.seqGaps).toBe(0);
    expect(log.stdout.toString()).toBe(expected(1, lines));
  }, 120_000);

  it(`beyond the grace: the run is retried on another agent and the old attempt's late results are refused`, async () => {
    const client = () => controller.client;
    // A controller past its start-up wait, so the loss is judged as in steady state.
    await untilUptime(controller);
    // Short enough to end on the partitioned agent during the cut: its RunFinished (exit 0) arrives late.
    const lines = 30;
    const run = await submitWithRetry(client, jobJson("long-cut", { run: script(lines), retries: { limit: 2, backoff: "100ms" } }), "long-cut-1");
    await waitRun(client, run.id, (r) => r.state === "running" && r.logChunks >= 3 && r.agentName === "behind-proxy", "to run behind the proxy with some output");

    proxy.cut();
    const cutAt = Date.now();
    other = await startAgent(controller, { name: "other", slots: 1 });
    const retried = await waitRun(client, run.id, (r) => r.attempt >= 2, "to be retried while the agent is cut off", GRACE_MS + 30_000).catch((err: Error) => {
      throw new Error(`${err.message}\n${logs()}`);
    });
    console.log(`[partition] long cut: attempt 2 queued ${Date.now() - cutAt} ms into the cut (grace ${GRACE_MS} ms): ${JSON.stringify(summary(retried))}`);
    // Attempt 2 done on the other agent, and the cut past its minimum, before the old agent speaks again.
    const second = await waitEnded(client, run.id, 60_000);
    await sleep(Math.max(0, cutAt + LONG_CUT_MIN_MS - Date.now()));
    const beforeHeal = await client().getRun(run.id);
    const healedAt = Date.now();
    proxy.heal();
    console.log(`[partition] long cut healed after ${healedAt - cutAt} ms; run before the heal: ${JSON.stringify(summary(beforeHeal))}`);

    // The partitioned agent is heard from again (on its old stream or a new one), then its late reports had their chance.
    await eventually(async () => {
      const { agents } = await client().listAgents();
      const a = agents.find((x) => x.name === "behind-proxy");
      return a && a.state === "connected" && a.lastSeenMs > healedAt ? a : undefined;
    }, "the partitioned agent to be heard from after the heal", 60_000).catch((err: Error) => {
      throw new Error(`${err.message}\n${logs()}`);
    });
    await sleep(4 * HEARTBEAT_MS);
    const after = await client().getRun(run.id);
    console.log(`[partition] long cut run after the heal: ${JSON.stringify(summary(after))}`);

    expect(second).toMatchObject({ state: "succeeded", attempt: 2, exitCode: 0, agentName: "other" });
    expect(after.attempts.map((a) => ({ attempt: a.attempt, state: a.state, reason: a.reason, agent: a.agentName }))).toEqual([
      { attempt: 1, state: "failed", reason: "infrastructure", agent: "behind-proxy" },
      { attempt: 2, state: "succeeded", reason: "exited", agent: "other" },
    ]);
    // The late RunFinished of attempt 1 (exit 0) changed nothing: the run and both attempts are as before the heal.
    expect(summary(after)).toEqual(summary(beforeHeal));
    expect((await storedLog(controller.client, run.id, 2)).stdout.toString()).toBe(expected(2, lines));
  }, 180_000);
});
