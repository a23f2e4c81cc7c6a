/**
 * `hodei watch` in a real terminal (tmux, 120×40 and 40 columns) against a
 * real controller (PostgreSQL) and agent while jobs run, checking what a
 * person sees: a submitted run appears and changes state, enter shows its log
 * in colour, c + y cancels it, q quits and gives the terminal back; NO_COLOR
 * keeps the symbols and drops the colours; a narrow terminal gets a narrow
 * table. Without a terminal it says it needs one and exits 2.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { HODEI, hodei, hodeiJson, startAgent, startController, tempDir, type ControllerProc, type Proc } from "../helpers/procs.js";
import { createTestDatabase, type TestDatabase } from "../helpers/db.js";
import { Tmux } from "../helpers/tmux.js";

let db: TestDatabase;
let controller: ControllerProc;
let agent: Proc;
let dir: string;
const terminals: Tmux[] = [];

// eslint-disable-next-line no-control-regex
const COLOUR = /\x1b\[[0-9;]*(3[0-7]|9[0-7]|38;[25];[0-9;]+)m/;

function jobFile(name: string, script: string): string {
  const file = join(dir, `${name}.yaml`);
  writeFileSync(file, `apiVersion: hodei.dev/v1\nkind: Job\nmetadata: { name: ${name} }\nspec:\n  run: |\n${script.split("\n").map((l) => `    ${l}`).join("\n")}\n`);
  return file;
}

const env = () => ({ env: { HODEI_CONTROLLER: controller.address } });

/** `hodei watch ARGS` in a new terminal; the shell prints a line before and the exit code after. */
async function watchIn(args: string, o: { width?: number; height?: number; noColor?: boolean; embedded?: string } = {}): Promise<Tmux> {
  const target = o.embedded ? ["HODEI_CONTROLLER=", `HODEI_DATA_DIR=${o.embedded}`, "HODEI_EMBEDDED_IDLE=2s"] : [`HODEI_CONTROLLER=${controller.address}`, `HODEI_TOKEN=${process.env.HODEI_TOKEN}`];
  // CI=true as on a CI machine: ink would draw only its last frame there; watch, in a terminal, draws every one.
  const vars = [...target, "HODEI_TOKEN_FILE=", "CI=true", o.noColor ? "NO_COLOR=1" : ""].filter(Boolean).join(" ");
  const cmd = `echo BEFORE-WATCH; env ${o.noColor ? "" : "-u NO_COLOR "}${vars} '${process.execPath}' '${HODEI}' watch ${args}; echo "WATCH-EXIT=$?"; exec sleep 3600`;
  const t = await Tmux.start(cmd, o.width ?? 120, o.height ?? 40);
  terminals.push(t);
  return t;
}

beforeAll(async () => {
  dir = tempDir("hodei-watch-e2e-");
  db = await createTestDatabase();
  controller = await startController({ databaseUrl: db.url });
  agent = await startAgent(controller, { name: "watch-e2e-agent", slots: 4 });
});
afterEach(async () => {
  for (const t of terminals.splice(0)) await t.kill();
});
afterAll(async () => {
  for (const t of terminals) await t.kill();
  await agent?.stop();
  await controller?.stop();
  await db?.drop();
});

describe("hodei watch in a terminal", () => {
  it("shows a run appear and change state, its coloured log on enter, cancels it on c + y, and q gives the terminal back", async () => {
    const t = await watchIn("");
    await t.waitFor((s) => s.includes("STATUS") && s.includes("done/min"), "the table");
    const file = jobFile("watch-e2e", "printf '\\033[31mred-marker\\033[0m plain-marker\\n'\nfor i in $(seq 1 600); do echo tick $i; sleep 1; done");
    const run = await hodeiJson<{ id: string }>(["run", "-d", file], env());
    // It appears, then runs (the state column changes as the agent starts it).
    await t.waitFor((s) => new RegExp(`● running\\s+${run.id} watch-e2e`).test(s), "the run running");
    // The agents panel: the real agent, its slot taken by the run, its heartbeat.
    await t.keys("a");
    const panel = await t.waitFor((s) => /● watch-e2e-agent\s+-\s+1\/4\s+\d+%\s+\S+\/\S+ \d+s ago/.test(s), "the agents panel");
    expect(panel).toContain("HEARTBEAT");
    await t.keys("a");
    await t.waitFor((s) => !s.includes("HEARTBEAT"), "the panel closed");
    await t.keys("Enter");
    const log = await t.waitFor((s) => s.includes("red-marker") && s.includes("tick 1"), "the log", { colors: true });
    // Red, as the job printed it (tmux may add resets of its own in between).
    expect(log).toMatch(/\x1b\[31m(\x1b\[[0-9;]*m)*red-marker/); // eslint-disable-line no-control-regex
    expect(await t.screen()).toContain(`run ${run.id} watch-e2e`);
    await t.keys("Escape");
    await t.waitFor((s) => s.includes("STATUS"), "back to the table");
    await t.keys("c");
    await t.waitFor((s) => s.includes(`cancel run ${run.id} (watch-e2e)? y/n`), "the confirmation");
    await t.keys("y");
    await t.waitFor((s) => new RegExp(`⊘ cancelled\\s+${run.id} watch-e2e`).test(s), "the run cancelled");
    const got = await hodeiJson<{ state: string }>(["runs", "get", run.id], env());
    expect(got.state).toBe("cancelled");
    await t.keys("q");
    const after = await t.waitFor((s) => s.includes("WATCH-EXIT="), "watch to exit");
    expect(after).toContain("WATCH-EXIT=0");
    // The alternate screen is gone: what was there before is back, the table is not.
    expect(after).toContain("BEFORE-WATCH");
    expect(after).not.toContain("STATUS");
  });

  it("hodei watch RUN opens its log; NO_COLOR keeps the symbols and drops every colour", async () => {
    const file = jobFile("watch-nocolor", "printf '\\033[32mgreen-marker\\033[0m\\n'\necho finished-marker");
    const run = await hodeiJson<{ id: string }>(["run", file, "--json"], env());
    const t = await watchIn(run.id, { noColor: true });
    const log = await t.waitFor((s) => s.includes("green-marker") && s.includes("finished-marker"), "the log", { colors: true });
    expect(log).not.toMatch(COLOUR);
    expect(await t.screen()).toContain(`✔ succeeded run ${run.id} watch-nocolor`);
    await t.keys("Escape");
    const table = await t.waitFor((s) => s.includes("STATUS"), "the table", { colors: true });
    expect(table).not.toMatch(COLOUR);
    expect(await t.screen()).toMatch(new RegExp(`✔ succeeded\\s+${run.id} watch-nocolor`));
    await t.keys("C-c");
    await t.waitFor((s) => s.includes("WATCH-EXIT="), "watch to exit on Ctrl-C");
  });

  it("scrolls the log with the mouse wheel (SGR mouse reports), and a resized terminal re-lays out", async () => {
    const file = jobFile("wheel-e2e", "for i in $(seq 1 200); do echo row-$i; done");
    const run = await hodeiJson<{ id: string }>(["run", file, "--json"], env());
    const t = await watchIn(run.id);
    await t.waitFor((s) => s.includes("row-200") && s.includes("complete"), "the log's end");
    // What a terminal sends for the wheel once mouse reporting is on (the pane turns it on).
    for (let i = 0; i < 3; i++) await t.type("\x1b[<64;10;10M");
    await t.waitFor((s) => s.includes("row-191") && !s.includes("row-192") && /line \d+-191\/200/.test(s), "scrolled up 9 lines", { timeoutMs: 30_000 });
    for (let i = 0; i < 3; i++) await t.type("\x1b[<65;10;10M");
    await t.waitFor((s) => s.includes("row-200") && s.includes("following"), "back at the end");
    await t.keys("Escape");
    await t.waitFor((s) => s.includes("REPO/SOURCE"), "the wide table");
    await t.resize(50, 20);
    const narrow = await t.waitFor((s) => s.includes("STATUS") && !s.includes("REPO/SOURCE"), "the table re-laid out for 50 columns");
    expect(narrow).toMatch(new RegExp(`✔ succeeded\\s+${run.id} wheel-e2e`));
    await t.keys("q");
    await t.waitFor((x) => x.includes("WATCH-EXIT=0"), "watch to exit");
  }, 180_000);

  it("fits a 40-column terminal", async () => {
    const file = jobFile("narrow-e2e", "echo hi");
    const run = await hodeiJson<{ id: string }>(["run", file, "--json"], env());
    const t = await watchIn("", { width: 40, height: 20 });
    const s = await t.waitFor((x) => new RegExp(`✔ succeeded\\s+${run.id} narrow-e2e`).test(x), "the narrow table");
    expect(s).not.toContain("REPO/SOURCE");
    expect(s).toContain("TIME");
    await t.keys("q");
    await t.waitFor((x) => x.includes("WATCH-EXIT=0"), "watch to exit");
  });

  it("with no controller configured, uses the embedded daemon, which stays up while watched and leaves once watch quits", async () => {
    const data = join(tempDir("hodei-watch-embedded-"), "data");
    const denv = { env: { HODEI_CONTROLLER: "", HODEI_DATA_DIR: data, HODEI_EMBEDDED_IDLE: "2s" } };
    try {
      const t = await watchIn("", { embedded: data });
      await t.waitFor((s) => s.includes("STATUS"), "the table", { timeoutMs: 120_000 });
      const { pid } = await hodeiJson<{ pid: number }>(["embedded", "status"], denv);
      const run = await hodeiJson<{ id: string }>(["run", jobFile("embedded-e2e", "echo from-the-daemon"), "--json"], denv);
      await t.waitFor((s) => new RegExp(`✔ succeeded\\s+${run.id} embedded-e2e`).test(s), "the embedded run");
      // Three idle periods with nothing queued or running: only the open watch keeps the daemon.
      for (const until = Date.now() + 6_000; Date.now() < until; ) {
        expect(process.kill(pid, 0)).toBe(true);
        await new Promise((r) => setTimeout(r, 200));
      }
      expect((await t.screen()).includes("controller unreachable")).toBe(false);
      await t.keys("q");
      await t.waitFor((x) => x.includes("WATCH-EXIT=0"), "watch to exit");
      for (const until = Date.now() + 60_000; ; ) {
        try {
          process.kill(pid, 0);
        } catch {
          break; // gone: idle once nobody watches
        }
        if (Date.now() > until) throw new Error("the daemon did not leave once idle");
        await new Promise((r) => setTimeout(r, 100));
      }
    } finally {
      await hodei(["embedded", "stop"], denv);
    }
  }, 240_000);

  it("says it needs a terminal and exits 2 when stdout is not one", async () => {
    const r = await hodei(["watch"], env());
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("needs a terminal");
  });
});
