/**
 * Issue 3, scenario 5: PostgreSQL (a private server, test/helpers/pgserver.ts)
 * is stopped with `-m immediate` (a crash to its clients) and started again
 * mid-run, while submits go on: `hodei run --detach` (the CLI retries its own
 * submit with one idempotency key) and SubmitRun through ControlClient with
 * fixed keys, retried on every error. No submit may be lost or duplicated
 * (exactly one run per key), and every run finishes with its complete log.
 * While the database is down the controller's HTTP health says so:
 * GET /healthz 200 (the process is alive), GET /readyz 503 (200 once the
 * database answers again). Assumed flags: `--http 127.0.0.1:0`, printing
 * `http listening on ADDR`. The outage comes once the controller is past its
 * start-up wait (harness.ts STEADY_STATE_MS), as in a long-running controller.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { startPgServer, type PgServer } from "../helpers/pgserver.js";
import { hodei, startAgent, eventually, tempDir, type Proc, type Result } from "../helpers/procs.js";
import { grep, httpStatus, jobJson, sleep, spawnController, stopAgent, storedLog, submitWithRetry, summary, tail, TERMINAL, untilUptime, type ChaosController } from "./harness.js";

const API_SUBMITS = 40;
const CLI_SUBMITS = 8;
const LINES = 10;
const script = `for i in $(seq 1 ${LINES}); do echo "$HODEI_JOB line $i"; sleep 0.05; done\n`;
const expected = (job: string): string => Array.from({ length: LINES }, (_, i) => `${job} line ${i + 1}\n`).join("");

let pg: PgServer;
let controller: ChaosController;
const agents: Proc[] = [];

beforeAll(async () => {
  pg = await startPgServer();
  const url = await pg.createDatabase("hodei");
  controller = await spawnController({ database: { databaseUrl: url }, http: true, extra: ["--heartbeat-interval", "500ms"] });
  for (const n of [1, 2]) agents.push(await startAgent(controller, { name: `pg-agent-${n}`, slots: 3 }));
});

afterAll(async () => {
  await Promise.all(agents.map(stopAgent));
  await controller?.stop();
  await pg?.dispose();
});

describe("a PostgreSQL restart mid-run, with submits going on", () => {
  it("loses and duplicates no submit, finishes every run, and reports not ready while the database is down", async () => {
    const client = () => controller.client;
    const http = controller.httpAddress!;
    // An outage of a controller that has been up a while, not one still in its start-up wait.
    await untilUptime(controller);
    expect(await httpStatus(http, "/healthz")).toBe(200);
    expect(await httpStatus(http, "/readyz")).toBe(200);

    // Through the API: fixed keys, retried on any error, two at a time, paced to go on through the restart (~7 s).
    let apiErrors = 0;
    const apiErrorKinds = new Set<string>();
    const apiDone: string[] = [];
    const spans: [number, number][] = []; // when each submit (API or CLI) started and returned
    const api = (async () => {
      let next = 0;
      await Promise.all(
        Array.from({ length: 2 }, async () => {
          while (next < API_SUBMITS) {
            const i = next++;
            const onError = (err: unknown) => {
              apiErrors++;
              apiErrorKinds.add((err as Error).message.split("\n")[0]!.slice(0, 120));
            };
            const from = Date.now();
            await submitWithRetry(client, jobJson(`pg-api-${i}`, { run: script }), `pg-api-${i}`, { timeoutMs: 120_000, onError });
            spans.push([from, Date.now()]);
            apiDone.push(`pg-api-${i}`);
            await sleep(300);
          }
        }),
      );
    })();
    api.catch(() => {}); // awaited below; handled here too in case the test fails first

    // Through the CLI: one job file per submit (its job name counts its runs), started 600 ms apart.
    const dir = tempDir("hodei-chaos-pg-");
    const cli: Promise<Result>[] = [];
    const cliStarts = (async () => {
      for (let i = 0; i < CLI_SUBMITS; i++) {
        const file = join(dir, `cli-${i}.yaml`);
        writeFileSync(file, `apiVersion: hodei.dev/v1\nkind: Job\nmetadata: { name: pg-cli-${i} }\nspec:\n  run: |\n${script.replace(/^/gm, "    ")}`);
        const from = Date.now();
        cli.push(
          hodei(["run", file, "--detach", "--json"], { env: { HODEI_CONTROLLER: controller.address }, timeoutMs: 120_000 }).then((r) => {
            spans.push([from, Date.now()]);
            return r;
          }),
        );
        await sleep(600);
      }
    })();

    // Mid-run: some submits in, runs going.
    await eventually(async () => {
      const runs = await client().listRuns({ limit: 1000 });
      return apiDone.length >= 8 && runs.some((r) => r.state === "running") ? true : undefined;
    }, "submits to be under way and runs running", 60_000);

    await pg.stop({ mode: "immediate" });
    const downAt = Date.now();
    // Not ready while the database is down (bounded: the server stays down at least 3 s, at most until readyz says so or 15 s).
    let readyWhileDown: number | undefined;
    let healthWhileDown: number | undefined;
    const died = () => controller.proc.exitCode !== null || controller.proc.signalCode !== null;
    while (Date.now() - downAt < 15_000 && !died()) {
      readyWhileDown = await httpStatus(http, "/readyz", 3_000);
      healthWhileDown = await httpStatus(http, "/healthz", 3_000);
      if (readyWhileDown === 503 && Date.now() - downAt >= 3_000) break;
      await sleep(200);
    }
    await pg.start();
    const upAt = Date.now();
    console.log(`[postgres-restart] PostgreSQL was down ${upAt - downAt} ms (immediate stop, then start); during it /readyz ${readyWhileDown}, /healthz ${healthWhileDown}`);
    // The controller must ride out the outage; if it died, say so with its last words rather than time out later.
    if (died()) throw new Error(`the controller exited (${controller.proc.exitCode ?? controller.proc.signalCode}) while PostgreSQL was down; ${controller.logFile}:\n${tail(controller.logFile, 25)}`);
    const readyAgain = await eventually(async () => ((await httpStatus(http, "/readyz", 3_000)) === 200 ? Date.now() : undefined), "/readyz to answer 200 again", 60_000).catch(() => undefined);
    console.log(`[postgres-restart] /readyz 200 again ${readyAgain ? `${readyAgain - upAt} ms after the start` : "never (within 60 s)"}`);

    await cliStarts;
    const cliResults = await Promise.all(cli);
    await api;

    const ended = await eventually(
      async () => {
        const runs = await client().listRuns({ limit: 1000 });
        return runs.length >= API_SUBMITS + CLI_SUBMITS && runs.every((r) => TERMINAL.has(r.state)) ? runs : undefined;
      },
      "every run to end",
      120_000,
    ).catch(async (err: Error) => {
      const runs = await client().listRuns({ limit: 1000 });
      throw new Error(
        `${err.message}: ${runs.length} runs, not ended: ${JSON.stringify(runs.filter((r) => !TERMINAL.has(r.state)).map(summary))}\n` +
          `controller.log:\n${grep(controller.logFile, /warn|error|database|ready/i, 30).join("\n")}`,
      );
    });

    const perJob = new Map<string, number>();
    for (const r of ended) perJob.set(r.jobName, (perJob.get(r.jobName) ?? 0) + 1);
    const names = [...Array.from({ length: API_SUBMITS }, (_, i) => `pg-api-${i}`), ...Array.from({ length: CLI_SUBMITS }, (_, i) => `pg-cli-${i}`)];
    const counts = {
      submits: names.length,
      lost: names.filter((n) => !perJob.has(n)).length,
      duplicated: [...perJob.values()].reduce((n, c) => n + c - 1, 0),
      notSucceeded: ended.filter((r) => r.state !== "succeeded").length,
      cliFailed: cliResults.filter((r) => r.code !== 0).length,
      logsIncomplete: 0,
    };
    for (const r of ended) {
      if ((await storedLog(controller.client, r.id)).stdout.toString() !== expected(r.jobName)) counts.logsIncomplete++;
    }
    const during = spans.filter(([from, to]) => from < upAt && to > downAt).length;
    console.log(`[postgres-restart] submits in flight while PostgreSQL was down: ${during} of ${spans.length}; API errors seen by the test's retry loop (the client retries UNAVAILABLE itself first): ${apiErrors} ${JSON.stringify([...apiErrorKinds])}`);
    console.log(`[postgres-restart] counts: ${JSON.stringify(counts)}`);
    for (const r of cliResults.filter((x) => x.code !== 0)) console.log(`[postgres-restart] hodei run exited ${r.code}: ${r.stderr.trim()}`);
    for (const r of ended.filter((x) => x.state !== "succeeded").slice(0, 5)) console.log(`[postgres-restart] not succeeded: ${JSON.stringify(summary(r))}`);
    if (counts.notSucceeded) console.log(`[postgres-restart] ${controller.logFile}:\n${grep(controller.logFile, /lost|agent connected|listening/i, 20).join("\n")}`);

    expect(counts).toEqual({ submits: API_SUBMITS + CLI_SUBMITS, lost: 0, duplicated: 0, notSucceeded: 0, cliFailed: 0, logsIncomplete: 0 });
    expect({ readyWhileDown, healthWhileDown, readyAgain: readyAgain !== undefined }).toEqual({ readyWhileDown: 503, healthWhileDown: 200, readyAgain: true });
  }, 300_000);
});
