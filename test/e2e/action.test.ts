/**
 * The GitHub Action (issue 11) as the runner runs it: the committed bundle
 * `node action/dist/index.js` with INPUT_* variables and the step's GITHUB_*
 * files in a temporary directory (test/helpers/action.ts), against a real
 * controller on PostgreSQL with one agent, access control on (the seeded
 * admin token is the `token` input). The runner itself cannot run here; what
 * it reads is what is checked: the workflow log (stdout, with its workflow
 * commands), the GITHUB_OUTPUT and GITHUB_STEP_SUMMARY files, and the exit code.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestDatabase } from "../helpers/db.js";
import { startAgent, startController, tempDir, type ControllerProc, type Proc } from "../helpers/procs.js";
import { runAction, startAction, step, workspace } from "../helpers/action.js";

let db: Awaited<ReturnType<typeof createTestDatabase>>;
let controller: ControllerProc;
let agent: Proc;
const TOKEN = process.env.HODEI_ADMIN_TOKEN!;

const job = (name: string, spec: string): string => `apiVersion: hodei.dev/v1\nkind: Job\nmetadata: { name: ${name} }\nspec:\n${spec}`;
const SECRET = "Action-e2e-Secret/Value+42";

const ws = workspace({
  ".hodei/jobs/greet.yaml": job("greet", '  run: |\n    printf \'\\033[32mgreen\\033[0m hello %s\\n\' "$WHO"\n    cat data.txt\n'),
  ".hodei/jobs/fail.yaml": job("fail", "  retries: { limit: 1, backoff: 100ms }\n  run: |\n    for i in $(seq 1 60); do echo \"line $i of attempt $HODEI_ATTEMPT\"; done\n    exit 3\n"),
  ".hodei/jobs/masks.yaml": job(
    "masks",
    `  run: |\n    V='${SECRET}'\n    echo "::add-mask::$V"\n    echo "value: $V"\n    echo "::error::from the job"\n    printf 'no newline at the end'\n    exit 1\n`,
  ),
  ".hodei/jobs/slow.yaml": job("slow", "  run: |\n    echo started\n    sleep 120\n"),
  "ci/several.yaml": `${job("one", "  run: echo one\n")}---\n${job("two", "  run: echo two from the spec file\n")}`,
  "data.txt": "from the workspace\n",
});

const remote = (inputs: Record<string, string>): Record<string, string> => ({ controller: controller.address, token: TOKEN, ...inputs });

/** Lines of the workflow log that the runner reads as commands: those outside ::stop-commands::T ... ::T::. */
function commandLines(log: string): string[] {
  const out: string[] = [];
  let stopped: string | undefined;
  for (const line of log.split("\n")) {
    if (stopped) {
      if (line === `::${stopped}::`) stopped = undefined;
      continue;
    }
    const m = /^::stop-commands::(.+)$/.exec(line);
    if (m) stopped = m[1];
    else if (line.startsWith("::")) out.push(line);
  }
  return out;
}

beforeAll(async () => {
  db = await createTestDatabase();
  controller = await startController({ databaseUrl: db.url });
  agent = await startAgent(controller, { name: "gha-agent", slots: 2 });
});

afterAll(async () => {
  await agent?.stop();
  await controller?.stop();
  await db?.drop();
});

describe("the GitHub Action against a controller", { timeout: 180_000 }, () => {
  it("a passing job: its log in a group with colours kept, outputs, a summary, exit 0, the token masked", async () => {
    const s = step(ws.dir, { sha: ws.sha });
    const r = await runAction(s, remote({ job: "greet", env: "WHO=actions\n# a comment\n\nUNUSED=x" }));
    expect(r.code, r.stdout + r.stderr).toBe(0);
    const id = r.outputs["run-id"]!;
    expect(id).toMatch(/^\d+$/);
    expect(r.outputs).toMatchObject({ status: "succeeded", "exit-code": "0", attempts: "1" });
    expect(Number(r.outputs["duration-seconds"])).toBeGreaterThanOrEqual(0);
    expect(r.stdout).toContain(`::group::Hodei run ${id} · greet · attempt 1\n::stop-commands::`);
    expect(r.stdout).toContain("\x1b[32mgreen\x1b[0m hello actions\nfrom the workspace\n");
    expect(r.stdout).toMatch(/\n::hodei-[0-9a-f]{32}::\n::endgroup::\n/);
    // The token appears once: in the ::add-mask:: command that registers it, before anything else.
    expect(r.stdout.split(TOKEN).length - 1).toBe(1);
    expect(r.stdout.startsWith(`::add-mask::${TOKEN}\n`)).toBe(true);
    expect(r.summary).toContain(`### ✅ Hodei: greet succeeded`);
    expect(r.summary).toContain("| Job | `greet` |");
    expect(r.summary).toContain(`| Commit | \`${ws.sha}\` |`);
    expect(r.summary).toContain("| Agent | gha-agent |");
    expect(r.summary).toContain("| Attempts | 1 |");
    expect(r.summary).toContain("| From | .hodei/jobs/greet.yaml |");
    expect(r.summary).not.toContain("```");
    expect(commandLines(r.stdout).filter((l) => l.startsWith("::error"))).toEqual([]);
    const run = await controller.client.getRun(id);
    expect(run.state).toBe("succeeded");
  });

  it("a failing job: every attempt in its own group, ::error:: with the reason, the last 50 lines in the summary, a failed step", async () => {
    const r = await runAction(step(ws.dir), remote({ job: "fail" }));
    expect(r.code).toBe(1);
    const id = r.outputs["run-id"]!;
    expect(r.outputs).toMatchObject({ status: "failed", "exit-code": "3", attempts: "2" });
    // The duration spans both attempts: from the first one's start to the run's end.
    const stored = await controller.client.getRun(id);
    expect(stored.attempts.length).toBe(2);
    expect(Number(r.outputs["duration-seconds"])).toBe(Math.round((stored.finishedAtMs - stored.attempts[0]!.startedAtMs) / 100) / 10);
    expect(r.stdout).toContain(`::group::Hodei run ${id} · fail · attempt 1\n`);
    expect(r.stdout).toContain(`::group::Hodei run ${id} · fail · attempt 2\n`);
    expect(r.stdout).toContain("hodei: attempt 1 failed with exit code 3; it will be retried");
    expect(commandLines(r.stdout)).toContain(`::error::Hodei run ${id} (job fail) failed with exit code 3 after 2 attempts`);
    expect(r.summary).toContain("### ❌ Hodei: fail failed with exit code 3");
    expect(r.summary).toContain("| Attempts | 2 |");
    const fenced = /```text\n([\s\S]*?)\n```/.exec(r.summary)?.[1]?.split("\n");
    expect(fenced).toEqual(Array.from({ length: 50 }, (_, i) => `line ${i + 11} of attempt 2`));
  });

  it("a job that masks a value: the value never reaches the workflow log, the outputs or the summary, and the job's workflow commands are not the runner's", async () => {
    const r = await runAction(step(ws.dir), remote({ job: "masks" }));
    expect(r.code).toBe(1);
    for (const text of [r.stdout, r.stderr, r.summary, JSON.stringify(r.outputs)]) expect(text).not.toContain(SECRET);
    expect(r.stdout).toContain("::add-mask::***\nvalue: ***\n");
    expect(r.summary).toContain("value: ***");
    // The job's ::error:: and ::add-mask:: lines are inside ::stop-commands::, so the runner ignores them;
    // the Action's own failure is the one annotation. The job's last line had no newline: the group still closes.
    const commands = commandLines(r.stdout);
    expect(commands.filter((l) => l.startsWith("::error"))).toEqual([`::error::Hodei run ${r.outputs["run-id"]} (job masks) failed with exit code 1`]);
    expect(commands.filter((l) => l.startsWith("::add-mask::"))).toEqual([`::add-mask::${TOKEN}`]);
    expect(r.stdout).toMatch(/no newline at the end\n::hodei-[0-9a-f]{32}::\n::endgroup::\n/);
  });

  it("SIGINT mid-run (a cancelled workflow) cancels the run and waits for it to stop", async () => {
    let sent = false;
    const { done } = startAction(step(ws.dir), remote({ job: "slow" }), (out, p) => {
      if (!sent && out.includes("started\n")) {
        sent = true;
        p.kill("SIGINT");
      }
    });
    const r = await done;
    expect(sent).toBe(true);
    expect(r.code).toBe(1);
    const id = r.outputs["run-id"]!;
    expect(r.outputs.status).toBe("cancelled");
    expect((await controller.client.getRun(id)).state).toBe("cancelled");
    expect(r.stdout).toContain(`hodei: the workflow was cancelled (SIGINT): cancelling run ${id}`);
    expect(commandLines(r.stdout)).toContain(`::error::the workflow was cancelled (SIGINT), so run ${id} was cancelled`);
    expect(r.summary).toContain("🚫 Hodei: slow cancelled");
  });

  it("a re-run of the same workflow run and attempt never submits twice; a new attempt submits anew", async () => {
    const runId = String(Date.now());
    const first = await runAction(step(ws.dir, { runId, attempt: "1" }), remote({ spec: "ci/several.yaml", job: "two" }));
    const again = await runAction(step(ws.dir, { runId, attempt: "1" }), remote({ spec: "ci/several.yaml", job: "two" }));
    expect([first.code, again.code]).toEqual([0, 0]);
    expect(again.outputs["run-id"]).toBe(first.outputs["run-id"]);
    expect(again.stdout).toContain("two from the spec file");
    const runs = await controller.client.listRuns({ jobName: "two" });
    expect(runs.map((x) => x.id)).toEqual([first.outputs["run-id"]]);
    const next = await runAction(step(ws.dir, { runId, attempt: "2" }), remote({ spec: "ci/several.yaml", job: "two" }));
    expect(next.code).toBe(0);
    expect(next.outputs["run-id"]).not.toBe(first.outputs["run-id"]);
  });

  it("repo: a registered repository's job at the workflow's commit, nothing uploaded", async () => {
    await controller.client.addRepo({ url: ws.dir, name: "web", branch: "main" });
    const s = step(tempDir("hodei-empty-ws-"), { sha: ws.sha }); // no checkout: the controller has the repository
    const r = await runAction(s, remote({ repo: "web", job: "greet", env: "WHO=repo" }));
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toContain("\x1b[32mgreen\x1b[0m hello repo\nfrom the workspace\n");
    expect(r.summary).toContain(`| From | web@${ws.sha} |`);
    expect(r.summary).toContain(`| Commit | \`${ws.sha}\` |`);
    const run = await controller.client.getRun(r.outputs["run-id"]!);
    expect(run.trigger?.commit ?? "").toBe(ws.sha);

    const unknown = await runAction(step(ws.dir), remote({ repo: "nope", job: "greet" }));
    expect(unknown.code).toBe(1);
    expect(commandLines(unknown.stdout).find((l) => l.startsWith("::error::"))).toMatch(/refused: .*nope/);
  });

  it("wait: false submits, sets run-id and returns", async () => {
    const r = await runAction(step(ws.dir), remote({ job: "greet", wait: "false" }));
    expect(r.code, r.stdout).toBe(0);
    const id = r.outputs["run-id"]!;
    expect(id).toMatch(/^\d+$/);
    expect(["queued", "assigned", "running", "succeeded"]).toContain(r.outputs.status);
    expect(r.stdout).not.toContain("::group::Hodei run");
    expect(r.summary).toContain(`submitted run ${id}`);
  });

  it("timeout: the run is cancelled when it passes, and the step fails saying so", async () => {
    const r = await runAction(step(ws.dir), remote({ job: "slow", timeout: "1s", "follow-logs": "false" }));
    expect(r.code).toBe(1);
    expect(r.outputs.status).toBe("cancelled");
    expect(r.stdout).not.toContain("started\n"); // follow-logs: false
    expect(commandLines(r.stdout)).toContain(`::error::the Action's timeout (1s) passed, so run ${r.outputs["run-id"]} was cancelled`);
  });

  it("an unreachable controller, a bad token, an unknown job: a clear ::error:: and a failed step, no hang", async () => {
    const unreachable = await runAction(step(ws.dir), { controller: "127.0.0.1:1", token: TOKEN, job: "greet" });
    expect(unreachable.code).toBe(1);
    expect(commandLines(unreachable.stdout).find((l) => l.startsWith("::error::"))).toMatch(/^::error::cannot reach the Hodei controller at 127\.0\.0\.1:1 \(.+\)\. Check the "controller" input/);
    expect(unreachable.outputs).toEqual({});

    const badToken = await runAction(step(ws.dir), remote({ token: "hodei_notARealTokenAtAll0000000000000000000000000", job: "greet" }));
    expect(badToken.code).toBe(1);
    expect(commandLines(badToken.stdout).find((l) => l.startsWith("::error::"))).toMatch(/refused the token: .*API token.*Check the "token" input/);
    expect(badToken.stdout.split("hodei_notARealTokenAtAll").length - 1).toBe(1); // in its ::add-mask:: only
    expect(badToken.stdout).not.toContain("HODEI_TOKEN");

    const unknown = await runAction(step(ws.dir), remote({ job: "nope" }));
    expect(unknown.code).toBe(1);
    expect(commandLines(unknown.stdout).find((l) => l.startsWith("::error::"))).toContain('no job named "nope"');
    expect(unknown.summary).toContain("could not be");
  });

  it("bad inputs: every problem reported at once, nothing submitted", async () => {
    const before = (await controller.client.listRuns({ limit: 1000 })).length;
    const r = await runAction(step(ws.dir), {
      controller: controller.address,
      token: "",
      spec: "../outside.yaml",
      repo: "web",
      wait: "yes",
      "follow-logs": "maybe",
      env: "GOOD=1\nnot-a-var=2\nnoequals",
      timeout: "10 minutes",
      mode: "cloud",
    });
    expect(r.code).toBe(1);
    const errors = commandLines(r.stdout).filter((l) => l.startsWith("::error::"));
    for (const part of [
      'input "mode": "cloud" is not a mode',
      'input "token" is required',
      'inputs "repo" and "spec" contradict',
      'input "repo" needs input "job"',
      'input "env", line 2: "not-a-var" is not a variable name',
      'input "env", line 3: "noequals" is not KEY=VALUE',
      'input "wait": "yes" is not a boolean',
      'input "follow-logs": "maybe" is not a boolean',
      'input "timeout": invalid duration "10 minutes"',
    ]) {
      expect(errors.some((e) => e.includes(part)), `${part} in:\n${errors.join("\n")}`).toBe(true);
    }
    expect(errors.at(-1)).toMatch(/^::error::\d+ problem\(s\) with the Action's inputs/);
    expect(r.outputs).toEqual({});
    expect((await controller.client.listRuns({ limit: 1000 })).length).toBe(before);
  });
});
