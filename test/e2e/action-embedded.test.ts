/**
 * The GitHub Action with `mode: embedded` (issue 11, item 3): no controller
 * given; the Action starts Hodei's embedded controller and local agent in a
 * data dir under RUNNER_TEMP with the `hodei` it finds on PATH (here one that
 * runs this repository's build, as `npm install -g hodei` would give a
 * runner), runs the same `.hodei/` jobs as the remote test, and stops the
 * daemon when the step ends.
 */
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { findDaemon } from "../../cli/embedded.js";
import { hodeiOnPath, runAction, step, workspace } from "../helpers/action.js";

const job = (name: string, spec: string): string => `apiVersion: hodei.dev/v1\nkind: Job\nmetadata: { name: ${name} }\nspec:\n${spec}`;
const ws = workspace({
  ".hodei/jobs/greet.yaml": job("greet", '  run: |\n    printf \'\\033[32mgreen\\033[0m hello %s\\n\' "$WHO"\n    cat data.txt\n'),
  ".hodei/jobs/fail.yaml": job("fail", "  run: |\n    for i in $(seq 1 60); do echo \"line $i\"; done\n    exit 3\n"),
  "data.txt": "from the workspace\n",
});
const bin = hodeiOnPath();

/** The step's environment for embedded mode: `hodei` on PATH. */
const embeddedStep = () => step(ws.dir, { sha: ws.sha, env: { PATH: `${bin}:${process.env.PATH}` } });

/** The embedded data dirs the step made under RUNNER_TEMP; none may still be served. */
function expectDaemonsStopped(runnerTemp: string): void {
  const dirs = readdirSync(runnerTemp).filter((d) => d.startsWith("hodei-"));
  expect(dirs.length).toBe(1);
  for (const d of dirs) expect(findDaemon(join(runnerTemp, d))).toBeUndefined();
}

describe("the GitHub Action, mode: embedded", { timeout: 240_000 }, () => {
  it("runs a .hodei/ job with an embedded controller and agent: the same log, outputs and summary as remote, and stops them after", async () => {
    const s = embeddedStep();
    const r = await runAction(s, { mode: "embedded", job: "greet", env: "WHO=embedded" });
    expect(r.code, r.stdout + r.stderr).toBe(0);
    const id = r.outputs["run-id"]!;
    expect(r.outputs).toMatchObject({ status: "succeeded", "exit-code": "0", attempts: "1" });
    expect(r.stdout).toContain(`embedded serve: listening on unix:`);
    expect(r.stdout).toContain(`::group::Hodei run ${id} · greet · attempt 1\n`);
    expect(r.stdout).toContain("\x1b[32mgreen\x1b[0m hello embedded\nfrom the workspace\n");
    expect(r.summary).toContain("### ✅ Hodei: greet succeeded");
    expect(r.summary).toContain(`| Run | ${id} (embedded controller) |`);
    expect(r.summary).toContain(`| Commit | \`${ws.sha}\` |`);
    expect(r.summary).toMatch(/\| Agent \| local-/);
    expectDaemonsStopped(s.env.RUNNER_TEMP!);
  });

  it("a failing job fails the step with its exit code, the ::error:: and the last lines", async () => {
    const s = embeddedStep();
    const r = await runAction(s, { mode: "embedded", job: "fail" });
    expect(r.code).toBe(1);
    expect(r.outputs).toMatchObject({ status: "failed", "exit-code": "3", attempts: "1" });
    expect(r.stdout).toContain(`::error::Hodei run ${r.outputs["run-id"]} (job fail) failed with exit code 3\n`);
    const fenced = /```text\n([\s\S]*?)\n```/.exec(r.summary)?.[1]?.split("\n");
    expect(fenced).toEqual(Array.from({ length: 50 }, (_, i) => `line ${i + 11}`));
    expectDaemonsStopped(s.env.RUNNER_TEMP!);
  });

  it("refuses inputs that have no meaning without a server, all at once", async () => {
    const r = await runAction(embeddedStep(), { mode: "embedded", job: "greet", controller: "x:1", token: "t", repo: "web", wait: "false" });
    expect(r.code).toBe(1);
    for (const part of ['input "controller" has no meaning with mode: embedded', 'input "token" has no meaning', 'input "repo" has no meaning with mode: embedded', 'input "wait": false cannot be used with mode: embedded']) {
      expect(r.stdout).toContain(part);
    }
  });
});
