/**
 * `hodei run` in a real terminal (tmux, 120×40): a live status line while the
 * run waits (queued and its place in the queue), the header above the job's
 * output once it runs (running on AGENT), a result line at the end (outcome,
 * duration, attempt), and the job's own exit code. With stdout redirected,
 * the file gets exactly the job's bytes while the terminal shows the status.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { createTestDatabase, type TestDatabase } from "../helpers/db.js";
import { HODEI, eventually, hodei, startAgent, startController, tempDir, type ControllerProc, type Proc } from "../helpers/procs.js";
import { jobYaml } from "../helpers/git.js";
import { Tmux } from "../helpers/tmux-run.js";

let db: TestDatabase;
let controller: ControllerProc;
let agent: Proc;
const tmux = new Tmux();
const dir = tempDir("hodei-tty-");
const release = join(dir, "release");
const file = (name: string, spec: string): string => {
  const p = join(dir, `${name}.yaml`);
  writeFileSync(p, jobYaml(name, spec));
  return p;
};
const env = (): { env: NodeJS.ProcessEnv } => ({ env: { HODEI_CONTROLLER: controller.address } });
const shell = (args: string, extra = ""): string => `env HODEI_CONTROLLER=${controller.address} HODEI_TOKEN=${process.env.HODEI_TOKEN} ${extra} node ${HODEI} ${args}`;

beforeAll(async () => {
  db = await createTestDatabase();
  controller = await startController({ databaseUrl: db.url });
  agent = await startAgent(controller, { name: "tty-agent", slots: 1 });
}, 180_000);

afterAll(async () => {
  tmux.kill();
  await agent?.stop();
  await controller?.stop();
  await db?.drop();
});

describe("hodei run on a terminal", { timeout: 180_000 }, () => {
  it("shows queued and its place, then running on the agent above the output, then the result; exits with the job's code", async () => {
    // One slot, taken by a job that waits for a file; a second run queued ahead of ours.
    const blocker = await hodei(["run", "-d", "--no-source", file("blocker", `run: while [ ! -f ${release} ]; do sleep 0.1; done`)], env());
    expect(blocker.code, blocker.stderr).toBe(0);
    await eventually(async () => ((await controller.client.getRun(blocker.stdout.toString().trim())).state === "running" ? true : undefined), "the blocker to run");
    expect((await hodei(["run", "-d", "--no-source", file("ahead", "run: echo ahead")], env())).code).toBe(0);

    const s = tmux.start(shell(`run --no-source ${file("ours", "run: echo hello from the job; echo to stderr >&2; exit 3")}`), { width: 120, height: 40 });
    const waiting = await tmux.waitFor(s, (t) => /queued, 2nd in queue/.test(t), "the status line to show our place in the queue");
    expect(waiting).toMatch(/run \d+ · ours · queued, 2nd in queue · \d+/);
    writeFileSync(release, "");
    const done = await tmux.finish(s);
    expect(done.code).toBe(3);
    const lines = done.text.split("\n").filter((l) => l.trim() !== "");
    const header = lines.findIndex((l) => /^▶ run \d+ · ours · running on tty-agent · \d+/.test(l));
    expect(header, done.text).toBeGreaterThanOrEqual(0);
    expect(lines.slice(header + 1, header + 3).sort()).toEqual(["hello from the job", "to stderr"]);
    expect(lines[header + 3]).toMatch(/^✘ run \d+ failed with exit code 3 in [\d.]+m?s · attempt 1$/);
    // The live line was redrawn in place: no leftover "queued" line on the screen.
    expect(lines.filter((l) => l.includes("queued"))).toEqual([]);
    expect(done.escapes).toBe(true); // the header is dim, the result red
  });

  it("with stdout redirected, the file has exactly the job's bytes; NO_COLOR leaves the terminal without escapes", async () => {
    const out = join(dir, "out.bin");
    const s = tmux.start(shell(`run --no-source ${file("bytes", "run: printf 'a\\nb\\n'")} > ${out}`, "NO_COLOR=1"), { width: 120, height: 40 });
    const done = await tmux.finish(s);
    expect(done.code).toBe(0);
    expect(readFileSync(out, "utf8")).toBe("a\nb\n");
    expect(done.text).toMatch(/▶ run \d+ · bytes · running on tty-agent/);
    expect(done.text).toMatch(/✔ run \d+ succeeded in [\d.]+m?s · attempt 1/);
    expect(done.escapes).toBe(false);
  });

  it("output without a final newline still leaves the result on a line of its own", async () => {
    const done = await tmux.finish(tmux.start(shell(`run --no-source ${file("partial", "run: printf 'no newline'")}`)));
    expect(done.code).toBe(0);
    const lines = done.text.split("\n").filter((l) => l.trim() !== "");
    expect(lines.at(-2)).toBe("no newline");
    expect(lines.at(-1)).toMatch(/^✔ run \d+ succeeded in [\d.]+m?s · attempt 1$/);
  });
});
