/**
 * hodei run as a person uses it: Ctrl-C cancels the run it started, a second
 * Ctrl-C detaches; a job no agent can take fails with why.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { hodei, hodeiJson, runAndSignal, tempDir } from "../helpers/procs.js";

const home = tempDir("hodei-interrupt-");
const env = { ...process.env, HODEI_CONTROLLER: "", HODEI_DATA_DIR: home };
// The first command starts the embedded daemon for this data dir (slow on a busy machine); stop it after the file.
beforeAll(async () => {
  expect((await hodei(["runs", "ls"], { env: { HODEI_DATA_DIR: home }, timeoutMs: 110_000 })).code).toBe(0);
});
afterAll(async () => {
  await hodei(["embedded", "stop"], { env: { HODEI_DATA_DIR: home } });
});

function job(name: string, body: string): string {
  const file = join(home, `${name}.yaml`);
  writeFileSync(file, `apiVersion: hodei.dev/v1\nkind: Job\nmetadata: { name: ${name} }\nspec:\n${body}`);
  return file;
}

/** Starts `hodei run FILE`, sends SIGINT `times` once the job has printed its first line; resolves with exit code and stderr. */
const interrupt = (file: string, times: number): Promise<{ code: number | null; stderr: string }> => runAndSignal(file, Array<NodeJS.Signals>(times).fill("SIGINT"), env);

describe("hodei run and Ctrl-C", () => {
  it("the first Ctrl-C cancels the run it started (exit 130, run cancelled with who asked)", async () => {
    const r = await interrupt(job("ctrlc", "  run: echo started; sleep 60\n  killGrace: 1s\n"), 1);
    expect({ code: r.code, stderr: r.stderr }).toMatchObject({ code: 130, stderr: expect.stringContaining("Cancelling run") });
    const { runs } = await hodeiJson<{ runs: { job: string; state: string; message: string }[] }>(["runs", "ls", "--job", "ctrlc"], { env });
    expect(runs[0]).toMatchObject({ state: "cancelled", message: "cancelled from hodei run (Ctrl-C)" });
  });

  it("a second Ctrl-C stops waiting for the cancel, which still happens", async () => {
    const r = await interrupt(job("detach", "  run: echo started; trap 'sleep 2; exit 0' TERM; sleep 60 & wait\n  killGrace: 5s\n"), 2);
    expect({ code: r.code, stderr: r.stderr }).toMatchObject({ code: 130, stderr: expect.stringContaining("Detached without waiting for the cancel to finish") });
    const id = (await hodeiJson<{ runs: { id: string }[] }>(["runs", "ls", "--job", "detach"], { env })).runs[0]!.id;
    // Following the run to its end: the cancel asked by the first Ctrl-C completes without us.
    const rest = await hodei(["logs", id, "-f"], { env: { HODEI_DATA_DIR: home } });
    expect(rest.stdout.toString()).toBe("started\n");
    expect((await hodeiJson<{ state: string; message: string }>(["runs", "get", id], { env })).state).toBe("cancelled");
  });

  it("fails at once, with why, a job whose selector no agent satisfies", async () => {
    const r = await hodei(["run", job("needs-gpu", "  run: echo never\n  selector: { gpu: \"a100\" }\n")], { env: { HODEI_DATA_DIR: home } });
    expect(r.code).toBe(1);
    expect(r.stdout.toString()).toBe("");
    expect(r.stderr).toContain("failed (unschedulable): no agent can take this run: it needs labels {gpu=a100}; agents: local-");
  });
});
