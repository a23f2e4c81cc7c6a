/**
 * CLI conventions end to end (docs/cli-conventions.md), from the built
 * `hodei` against a real controller (PostgreSQL) and agent:
 *   - every command's --json output matches its committed schema (schemas/cli/),
 *     and so does the error object a failing command prints with --json;
 *   - the exit-code table, command by command (0, 1, 2, 3, 4, 5, 124, 125, 130,
 *     and `hodei run` with the job's own code);
 *   - `hodei logs` --tail, --since, --timestamps, --stream and their bad input;
 *   - human output: no colour with NO_COLOR or --no-color or off a terminal,
 *     a non-terminal stdout gets exactly the job's bytes, a 40-column table.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { chmodSync, readFileSync, writeFileSync } from "node:fs";
import { spawn } from "node:child_process";
import { join } from "node:path";
import { createTestDatabase, type TestDatabase } from "../helpers/db.js";
import { HODEI, ROOT, eventually, hodei, startAgent, startController, tempDir, type ControllerProc, type Proc, type Result } from "../helpers/procs.js";
import { createRepo, jobYaml, type TestRepo } from "../helpers/git.js";
import { assertShape } from "../helpers/cli-schemas.js";
import { MasterKey } from "../../controller/secrets/seal.js";

let db: TestDatabase;
let controller: ControllerProc;
let agent: Proc;
let repo: TestRepo;
const dir = tempDir("hodei-clijson-");
const env = (extra: NodeJS.ProcessEnv = {}): { env: NodeJS.ProcessEnv } => ({ env: { HODEI_CONTROLLER: controller.address, ...extra } });
const file = (name: string, spec: string): string => {
  const p = join(dir, `${name}.yaml`);
  writeFileSync(p, jobYaml(name, spec));
  return p;
};

/** `hodei ARGS --json`: the exit code and the parsed output, checked against schemas/cli/NAME (or error.schema.json when it failed). */
async function json(name: string, args: string[], opts: Parameters<typeof hodei>[1] = env()): Promise<{ code: number | null; out: Record<string, unknown>; r: Result }> {
  const r = await hodei([...args, "--json"], opts);
  let out: Record<string, unknown>;
  try {
    out = JSON.parse(r.stdout.toString()) as Record<string, unknown>;
  } catch {
    throw new Error(`hodei ${args.join(" ")} --json printed no JSON (exit ${r.code}):\n${r.stdout.toString()}\n${r.stderr}`);
  }
  assertShape("error" in out && r.code !== 0 ? "error" : name, out);
  return { code: r.code, out, r };
}

beforeAll(async () => {
  const keyFile = join(dir, "master.key");
  writeFileSync(keyFile, `${MasterKey.generate().encoded()}\n`, { mode: 0o600 });
  chmodSync(keyFile, 0o600);
  repo = createRepo();
  repo.commit({
    ".hodei/hello.yaml": jobYaml("hello", "run: echo hello from the repo"),
    ".hodei/on-push.yaml": jobYaml("on-push", "run: echo pushed\ntriggers: { push: { branches: [main] } }"),
  });
  db = await createTestDatabase();
  controller = await startController({ databaseUrl: db.url }, ["--master-key-file", keyFile, "--mirrors-dir", join(dir, "mirrors")]);
  agent = await startAgent(controller, { name: "json-agent", slots: 4 });
}, 180_000);

afterAll(async () => {
  await agent?.stop();
  await controller?.stop();
  await db?.drop();
});

describe("every command's --json matches its schema", { timeout: 300_000 }, () => {
  it("runs, logs, cancel, rerun, agents, audit", async () => {
    const ran = await json("run", ["run", file("lines", "run: printf 'one\\ntwo\\nthree\\n'; echo err >&2")]);
    expect(ran.code).toBe(0);
    expect(ran.out).toMatchObject({ state: "succeeded", job: "lines" });
    const id = ran.out.id as string;
    const detached = await json("run", ["run", "-d", file("sleepy", "run: sleep 30")]);
    expect(detached.out.state).toMatch(/queued|assigned|running/);
    const [ls, got, logs, agents, audit, rerun] = await Promise.all([
      json("runs-ls", ["runs", "ls"]),
      json("runs-get", ["runs", "get", id]),
      json("logs", ["logs", id]),
      json("agents-ls", ["agents", "ls"]),
      json("audit", ["audit", "--since", "1h"]),
      json("rerun", ["rerun", id]),
    ]);
    expect((ls.out.runs as unknown[]).length).toBeGreaterThanOrEqual(2);
    expect(got.out.id).toBe(id);
    const chunks = logs.out.chunks as { stream: string; data: string }[];
    expect(Buffer.concat(chunks.filter((c) => c.stream === "stdout").map((c) => Buffer.from(c.data, "base64"))).toString()).toBe("one\ntwo\nthree\n");
    expect((agents.out.agents as { name: string }[]).map((a) => a.name)).toContain("json-agent");
    expect((audit.out.entries as unknown[]).length).toBeGreaterThan(0);
    expect(rerun.out.id).not.toBe(id);
    const cancelled = await json("cancel", ["cancel", detached.out.id as string]);
    expect(cancelled.code).toBe(0);
    const followed = await json("logs", ["logs", id, "-f", "--tail", "1"]);
    expect((followed.out.end as { state: string }).state).toBe("succeeded");
  });

  it("validate, jobs match, certs init, embedded status and stop (no controller needed)", async () => {
    const home = tempDir("hodei-clijson-home-");
    const [valid, invalid, match, certs, status, stop] = await Promise.all([
      json("validate", ["validate", "examples/hello"], {}),
      json("validate", ["validate", file("broken", "run: [1, 2]")], {}),
      json("jobs-match", ["jobs", "match", repo.dir, "--event", "push", "--ref", "main"], {}),
      json("certs-init", ["certs", "init", "--out", join(home, "certs"), "--hosts", "localhost", "--agent", "a1"], {}),
      json("embedded-status", ["embedded", "status"], { env: { HODEI_DATA_DIR: join(home, "data") } }),
      json("embedded-stop", ["embedded", "stop"], { env: { HODEI_DATA_DIR: join(home, "data") } }),
    ]);
    expect([valid.code, invalid.code, match.code, certs.code, status.code, stop.code]).toEqual([0, 1, 0, 0, 0, 0]);
    expect(invalid.out.valid).toBe(false);
    expect(status.out.running).toBe(false);
  });

  it("repos and jobs", async () => {
    const added = await json("repos-add", ["repos", "add", repo.dir, "--name", "demo", "--poll-interval", "0"]);
    expect(added.code).toBe(0);
    const [ls, got, synced, jobs, job, matched] = await Promise.all([
      json("repos-ls", ["repos", "ls"]),
      json("repos-get", ["repos", "get", "demo"]),
      json("repos-sync", ["repos", "sync", "demo"]),
      json("jobs-ls", ["jobs", "ls"]),
      json("jobs-get", ["jobs", "get", "demo/hello"]),
      json("jobs-match", ["jobs", "match", "--repo", "demo", "--event", "push", "--ref", "main"]),
    ]);
    expect((ls.out.repos as unknown[]).length).toBe(1);
    expect(got.out.jobs).toBe(2);
    expect(synced.out.name).toBe("demo");
    expect((jobs.out.jobs as unknown[]).length).toBe(2);
    expect(job.out.name).toBe("hello");
    expect((matched.out.jobs as { name: string; run: boolean }[]).find((j) => j.name === "on-push")?.run).toBe(true);
    expect((await json("repos-rm", ["repos", "rm", "demo"])).code).toBe(0);
  });

  it("secrets and tokens", async () => {
    const valueFile = join(dir, "value");
    writeFileSync(valueFile, "s3cret-value");
    const set = await json("secrets-set", ["secrets", "set", "API_KEY", "--from-file", valueFile]);
    expect(set.code).toBe(0);
    const [ls, rotated, created] = await Promise.all([
      json("secrets-ls", ["secrets", "ls"]),
      json("secrets-rotate-key", ["secrets", "rotate-key"]),
      json("tokens-create", ["tokens", "create", "--name", "json-viewer", "--role", "viewer"]),
    ]);
    expect(JSON.stringify(ls.out)).not.toContain("s3cret-value");
    expect(rotated.out.resealed).toBe(1);
    expect(created.out.token).toMatch(/^hodei_/);
    const [rm, tokens] = await Promise.all([json("secrets-rm", ["secrets", "rm", "API_KEY"]), json("tokens-ls", ["tokens", "ls"])]);
    expect(rm.out.name).toBe("API_KEY");
    expect(JSON.stringify(tokens.out)).not.toContain(created.out.token as string);
    expect((await json("tokens-revoke", ["tokens", "revoke", "json-viewer"])).out.revokedAt).not.toBeNull();
  });

  it("agents token create, ls, revoke; agents revoke", async () => {
    const created = await json("agents-token-create", ["agents", "token", "create", "--labels", "pool=json", "--ttl", "10m"]);
    expect(created.out.token).toEqual(expect.any(String));
    const [ls, revoked] = await Promise.all([json("agents-token-ls", ["agents", "token", "ls"]), json("agents-token-revoke", ["agents", "token", "revoke", created.out.id as string])]);
    expect(JSON.stringify(ls.out)).not.toContain(created.out.token as string);
    expect(revoked.out.revokedAt).not.toBeNull();
    const extra = await startAgent(controller, { name: "json-revoked", slots: 1 });
    try {
      const r = await json("agents-revoke", ["agents", "revoke", "json-revoked"]);
      expect(r.out).toMatchObject({ name: "json-revoked" });
    } finally {
      await extra.stop();
    }
  });

  it("agents drain", async () => {
    const extra = await startAgent(controller, { name: "json-drained", slots: 1 });
    const drained = await json("agents-drain", ["agents", "drain", "json-drained", "--reason", "test"]);
    expect(drained.out.state).toBe("draining");
    expect(await extra.exited).toBe(0);
  });
});

/** `hodei ARGS` many at once (most of a CLI process's time is waiting). */
function all<const T extends readonly [string[], NodeJS.ProcessEnv?][]>(calls: T): Promise<{ [K in keyof T]: Result }> {
  return Promise.all(calls.map(([args, e]) => hodei(args, env(e)))) as Promise<{ [K in keyof T]: Result }>;
}

describe("the exit-code table, command by command", { timeout: 300_000 }, () => {
  const CONTROLLER_COMMANDS: string[][] = [
    ["runs", "ls"], ["runs", "get", "1"], ["logs", "1"], ["cancel", "1"], ["rerun", "1"], ["agents", "ls"], ["agents", "drain", "x"], ["audit"],
    ["repos", "ls"], ["repos", "get", "x"], ["repos", "sync", "x"], ["repos", "rm", "x"], ["repos", "add", "https://example.invalid/x.git", "--no-sync"],
    ["jobs", "ls"], ["jobs", "get", "a/b"], ["secrets", "ls"], ["secrets", "rm", "X"], ["secrets", "rotate-key"], ["tokens", "ls"], ["tokens", "revoke", "x"],
    ["tokens", "create", "--name", "x", "--role", "viewer"], ["run", "-d", "examples/hello/.hodei/jobs/hello.yaml"],
    ["agents", "token", "ls"], ["agents", "revoke", "x"],
  ];

  it("2: a usage error, for every command (an unknown flag)", async () => {
    const manifest = JSON.parse(readFileSync(join(ROOT, "oclif.manifest.json"), "utf8")) as { commands: Record<string, { hidden?: boolean }> };
    const ids = Object.entries(manifest.commands).filter(([, c]) => !c.hidden).map(([id]) => id.split(":"));
    const results = await all(ids.map((words) => [[...words, "--no-such-flag"]]));
    results.forEach((r, i) => expect(r.code, `${ids[i]!.join(" ")}: ${r.stderr}`).toBe(2));
    const more = await all([[["runs", "ls", "--limit", "0"]], [["logs", "1", "--tail", "-1"]], [["logs", "1", "--since", "nonsense"]], [["logs", "1", "--stream", "both"]], [["run", file("bad", "run: [1]")]], [["tokens", "create", "--name", "x", "--role", "root"]]]);
    for (const r of more) expect(r.code, r.stderr).toBe(2);
    expect(more[2]!.stderr).toContain("--since");
  });

  it("3: the controller cannot be reached, for every command that talks to one", async () => {
    const results = await Promise.all(CONTROLLER_COMMANDS.map((args) => hodei(args, { env: { HODEI_CONTROLLER: "127.0.0.1:1" }, timeoutMs: 90_000 })));
    results.forEach((r, i) => {
      expect(r.code, `${CONTROLLER_COMMANDS[i]!.join(" ")}: ${r.stderr}`).toBe(3);
      expect(r.stderr).toContain("cannot reach the controller at 127.0.0.1:1");
    });
    const asJson = await json("runs-ls", ["runs", "ls"], { env: { HODEI_CONTROLLER: "127.0.0.1:1" } });
    expect(asJson.out).toMatchObject({ error: { exitCode: 3 } });
  });

  it("4: not found, for every command that names something", async () => {
    const cases: string[][] = [
      ["runs", "get", "999999"], ["logs", "999999"], ["logs", "999999", "-f"], ["cancel", "999999"], ["rerun", "999999"], ["agents", "drain", "no-such-agent"],
      ["repos", "get", "nope"], ["repos", "sync", "nope"], ["repos", "rm", "nope"], ["jobs", "get", "nope/nope"], ["secrets", "rm", "NOPE"], ["tokens", "revoke", "nope"],
      ["run", "hello", "--repo", "nope"], ["context", "use", "nope"], ["context", "rm", "nope"], ["agents", "revoke", "no-such-agent"], ["agents", "token", "revoke", "999999"],
    ];
    const results = await all(cases.map((c) => [c, { HODEI_CONFIG_DIR: join(dir, "no-config") }]));
    results.forEach((r, i) => expect(r.code, `${cases[i]!.join(" ")}: ${r.stderr}`).toBe(4));
    const asJson = await json("logs", ["logs", "999999"]);
    expect(asJson.out).toMatchObject({ error: { exitCode: 4, kind: "not_found", retryable: false } });
  });

  it("5: permission denied: no token, a bad token, a role too small", async () => {
    const viewer = JSON.parse((await hodei(["tokens", "create", "--name", "exit-viewer", "--role", "viewer", "--json"], env())).stdout.toString()) as { token: string };
    const asViewer = { HODEI_TOKEN: viewer.token };
    const results = await all([
      [["runs", "ls"], { HODEI_TOKEN: "hodei_0000000000000000000000000000000000000000000" }],
      [["runs", "ls"], { HODEI_TOKEN: "", HODEI_TOKEN_FILE: "" }],
      [["run", "-d", "examples/hello/.hodei/jobs/hello.yaml"], asViewer],
      [["tokens", "ls"], asViewer],
      [["audit"], asViewer],
      [["secrets", "set", "X", "--from-file", join(ROOT, "package.json")], asViewer],
      [["agents", "drain", "json-agent"], asViewer],
      [["repos", "add", repo.dir, "--name", "nope", "--no-sync"], asViewer],
    ]);
    results.forEach((r, i) => expect(r.code, `case ${i}: ${r.stderr}`).toBe(5));
    expect((await json("runs-ls", ["runs", "ls"], env({ HODEI_TOKEN: "hodei_bad" }))).out).toMatchObject({ error: { exitCode: 5, kind: "permission" } });
    expect((await hodei(["runs", "ls"], env(asViewer))).code).toBe(0);
  });

  it("0 and 1: ok, and a check or request that failed (invalid definitions, a conflict)", async () => {
    const done = JSON.parse((await hodei(["run", file("quick", "run: 'true'"), "--json"], env())).stdout.toString()) as { id: string };
    const [again, dup1, validateBad, matchBad, ok] = await all([
      [["cancel", done.id]],
      [["tokens", "create", "--name", "exit-viewer", "--role", "viewer"]],
      [["validate", file("invalid", "run: [1]")]],
      [["jobs", "match", join(dir, "invalid.yaml"), "--event", "manual"]],
      [["runs", "get", done.id]],
    ]);
    expect(again.code, again.stderr).toBe(1);
    expect(again.stderr).toContain("already ended");
    expect(dup1.code, dup1.stderr).toBe(1);
    expect(validateBad.code).toBe(1);
    expect(matchBad.code).toBe(1);
    expect(ok.code).toBe(0);
  });

  it("hodei run: the job's own code, 124 on timeout, 130 when cancelled; logs --exit-status the same", async () => {
    const own = await hodei(["run", file("seven", "run: exit 7")], env());
    expect(own.code).toBe(7);
    const timedOut = await hodei(["run", file("slow", "run: sleep 30\ntimeout: 1s\nkillGrace: 1s")], env());
    expect(timedOut.code).toBe(124);
    const slowId = /run (\d+)/.exec(timedOut.stderr)![1]!;
    expect((await hodei(["logs", slowId, "-f", "--exit-status"], env())).code).toBe(124);

    // Cancelled from elsewhere while hodei run follows it.
    const p = spawn(process.execPath, [HODEI, "run", file("waits", "run: echo started; sleep 60")], { cwd: ROOT, env: { ...process.env, HODEI_CONTROLLER: controller.address }, stdio: ["ignore", "pipe", "pipe"] });
    let stderr = "";
    p.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((resolve) => p.on("close", resolve));
    const id = await eventually(() => /hodei: run (\d+)/.exec(stderr)?.[1], "the run id on stderr");
    await eventually(async () => ((await controller.client.getRun(id)).state === "running" ? true : undefined), "the run to start");
    expect((await hodei(["cancel", id], env())).code).toBe(0);
    expect(await exited).toBe(130);
    expect((await hodei(["logs", id, "-f", "--exit-status"], env())).code).toBe(130);
  });

  it("125: hodei's own failure (a repository whose first sync fails)", async () => {
    const r = await hodei(["repos", "add", join(dir, "not-a-repo"), "--name", "gone", "--poll-interval", "0"], env());
    expect(r.code).toBe(125);
    const j = await json("repos-add", ["repos", "add", join(dir, "not-a-repo"), "--name", "gone2", "--poll-interval", "0"]);
    expect(j.out).toMatchObject({ error: { exitCode: 125 } });
  });
});

describe("hodei logs flags", { timeout: 120_000 }, () => {
  let id: string;
  beforeAll(async () => {
    const r = await hodei(["run", file("twenty", "run: for i in $(seq 1 20); do echo \"out $i\"; echo \"err $i\" >&2; done")], env());
    expect(r.code).toBe(0);
    id = /run (\d+)/.exec(r.stderr)![1]!;
  });

  it("--tail N gives the last N lines of each stream shown; --tail 0 nothing", async () => {
    const out = await hodei(["logs", id, "--tail", "3", "--stream", "stdout"], env());
    expect(out.stdout.toString()).toBe("out 18\nout 19\nout 20\n");
    expect(out.stderr).toBe("");
    const both = await hodei(["logs", id, "--tail", "2"], env());
    const lines = (both.stdout.toString() + both.stderr).trimEnd().split("\n");
    expect(lines).toHaveLength(2);
    for (const l of lines) expect(l).toMatch(/^(out|err) \d+$/);
    expect((await hodei(["logs", id, "--tail", "0"], env())).stdout.toString()).toBe("");
  });

  it("--stream stderr leaves stdout empty; --timestamps stamps every line", async () => {
    const err = await hodei(["logs", id, "--stream", "stderr"], env());
    expect(err.stdout.toString()).toBe("");
    expect(err.stderr).toContain("err 20\n");
    const stamped = await hodei(["logs", id, "--timestamps", "--stream", "stdout"], env());
    const lines = stamped.stdout.toString().trimEnd().split("\n");
    expect(lines).toHaveLength(20);
    for (const [i, l] of lines.entries()) expect(l).toMatch(new RegExp(`^\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d\\.\\d{3}Z out ${i + 1}$`));
  });

  it("--since: a window after the run shows nothing, one before it everything; a date works too", async () => {
    expect((await hodei(["logs", id, "--since", "1h", "--stream", "stdout"], env())).stdout.toString().split("\n")).toHaveLength(21);
    const future = new Date(Date.now() + 3_600_000).toISOString();
    expect((await hodei(["logs", id, "--since", future], env())).stdout.toString()).toBe("");
  });

  it("bad input: --tail -1, --since nonsense, --stream both, an unknown run", async () => {
    const [tail, since, stream, unknown] = await all([[["logs", id, "--tail", "-1"]], [["logs", id, "--since", "nonsense"]], [["logs", id, "--stream", "both"]], [["logs", "424242"]]]);
    expect(tail.code).toBe(2);
    expect(since.code).toBe(2);
    expect(since.stderr).toContain("a duration back from now");
    expect(stream.code).toBe(2);
    expect(unknown.code).toBe(4);
  });
});

describe("human output", { timeout: 120_000 }, () => {
  it("off a terminal: no colour, no status lines in data; stdout is exactly the job's bytes", async () => {
    const bytes = "line one\n\x1b[31mred from the job\x1b[0m\nno newline";
    writeFileSync(join(dir, "bytes.txt"), bytes);
    const r = await hodei(["run", file("exact", `run: cat ${join(dir, "bytes.txt")}`)], env());
    expect(r.code).toBe(0);
    expect(r.stdout.toString()).toBe(bytes);
    expect(r.stderr).toMatch(/^hodei: run \d+\n$/);
    const ls = await hodei(["runs", "ls"], env());
    expect(ls.stdout.toString()).not.toContain("\x1b[");
  });

  it("NO_COLOR and --no-color: no escape codes even where colour would be used; a 40-column table fits", async () => {
    // A pseudo-terminal, so colour would be on: tmux (test/e2e/run-tty.test.ts has the run header).
    const { tmuxRun } = await import("../helpers/tmux-run.js");
    const base = `HODEI_CONTROLLER=${controller.address} HODEI_TOKEN=${process.env.HODEI_TOKEN}`;
    const coloured = await tmuxRun(`${base} node ${HODEI} runs ls --limit 3`, { width: 200 });
    expect(coloured.escapes).toBe(true);
    for (const cmd of [`${base} NO_COLOR=1 node ${HODEI} runs ls --limit 3`, `${base} node ${HODEI} runs ls --limit 3 --no-color`]) {
      const plain = await tmuxRun(cmd, { width: 200 });
      expect(plain.escapes, cmd).toBe(false);
      expect(plain.text).toMatch(/ID\s+JOB/);
    }
    const narrow = await tmuxRun(`${base} node ${HODEI} runs ls --limit 5`, { width: 40 });
    const lines = narrow.text.split("\n").filter((l) => l.trim() !== "");
    expect(lines[0]).toMatch(/^ID\s+JOB/);
    expect(lines.length).toBeGreaterThanOrEqual(6); // the header and 5 runs, none wrapped
    for (const l of lines) expect(l.length).toBeLessThanOrEqual(40);
  });
});
