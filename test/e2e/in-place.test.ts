/**
 * `hodei run --in-place` (issue 7, item 4) against the built CLI on the
 * embedded default: the job's workspace is the working tree itself (the
 * repository's root, or the file's directory outside a repository), so it sees
 * what a bundle would leave out and its writes land in the user's files; and
 * nothing of the tree is removed when the run ends, however it ends.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, readdirSync, realpathSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { eventually, hodei, hodeiJson, startController, tempDir } from "../helpers/procs.js";
import { ControllerError } from "../../cli/errors.js";

const git = (cwd: string, ...args: string[]): string =>
  execFileSync("git", ["-c", "user.email=t@example.com", "-c", "user.name=t", "-c", "init.defaultBranch=main", ...args], { cwd, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });

function job(name: string, script: string, extra = ""): string {
  const indented = script.split("\n").map((l) => `    ${l}`).join("\n");
  return `apiVersion: hodei.dev/v1\nkind: Job\nmetadata:\n  name: ${name}\nspec:\n  timeout: 1m\n${extra}  run: |\n${indented}\n`;
}

/** A repository with a committed file edited but not committed and an ignored file; the job file under .hodei/jobs/. */
function repo(script: string, extra = ""): { dir: string; file: string } {
  const dir = realpathSync(tempDir("hodei-inplace-repo-"));
  git(dir, "init", "-q");
  writeFileSync(join(dir, "tracked.txt"), "committed\n");
  writeFileSync(join(dir, ".gitignore"), "ignored.txt\nout/\n");
  mkdirSync(join(dir, "sub"));
  writeFileSync(join(dir, "sub", "keep.txt"), "kept\n");
  mkdirSync(join(dir, ".hodei", "jobs"), { recursive: true });
  const file = join(dir, ".hodei", "jobs", "here.yaml");
  writeFileSync(file, job("here", script, extra));
  git(dir, "add", "-A");
  git(dir, "commit", "-qm", "first");
  writeFileSync(join(dir, "tracked.txt"), "edited, not committed\n");
  writeFileSync(join(dir, "ignored.txt"), "ignored, never bundled\n");
  return { dir, file };
}

/** Every path under `dir` (but .git), sorted. */
function listing(dir: string, rel = ""): string[] {
  const out: string[] = [];
  for (const e of readdirSync(join(dir, rel), { withFileTypes: true })) {
    const p = rel ? `${rel}/${e.name}` : e.name;
    if (p === ".git") continue;
    out.push(p);
    if (e.isDirectory()) out.push(...listing(dir, p));
  }
  return out.sort();
}

describe("hodei run --in-place on the embedded default", () => {
  const dataDir = tempDir("hodei-inplace-data-");
  const env = { HODEI_DATA_DIR: dataDir };
  beforeAll(async () => {
    // The first command starts the daemon (a fresh PGlite cluster: slow on a busy machine).
    expect((await hodei(["runs", "ls"], { env, timeoutMs: 110_000 })).code).toBe(0);
  });
  afterAll(async () => {
    await hodei(["embedded", "stop"], { env });
  });

  it("runs in the repository itself: sees an ignored file and an uncommitted edit, HODEI_WORKSPACE is the root, and its writes stay", async () => {
    const { dir, file } = repo(
      [
        "cat tracked.txt ignored.txt",
        'echo "ws=$HODEI_WORKSPACE"',
        'echo "pwd=$PWD"',
        "mkdir -p out && echo built > out/result.txt",
        "echo edited-by-job >> tracked.txt",
      ].join("\n"),
    );
    const before = listing(dir);
    const r = await hodei(["run", file, "--in-place"], { env });
    expect(r.stderr).toMatch(/^hodei: run \d+\n$/);
    expect(r.code).toBe(0);
    expect(r.stdout.toString()).toBe(`edited, not committed\nignored, never bundled\nws=${dir}\npwd=${dir}\n`);
    expect(readFileSync(join(dir, "out", "result.txt"), "utf8")).toBe("built\n");
    expect(readFileSync(join(dir, "tracked.txt"), "utf8")).toBe("edited, not committed\nedited-by-job\n");
    // Everything that was there still is, and the only new paths are the job's: the agent put nothing of its own here.
    expect(listing(dir)).toEqual([...before, "out", "out/result.txt"].sort());
    expect(git(dir, "status", "--porcelain")).toBe(" M tracked.txt\n");
  });

  it("leaves the tree after a failing run, with what the job wrote before it failed", async () => {
    const { dir, file } = repo("echo partial > ignored.txt\nexit 5");
    const before = listing(dir);
    const r = await hodei(["run", file, "--in-place"], { env });
    expect(r.code).toBe(5);
    expect(listing(dir)).toEqual(before);
    expect(readFileSync(join(dir, "ignored.txt"), "utf8")).toBe("partial\n");
    expect(readFileSync(join(dir, "sub", "keep.txt"), "utf8")).toBe("kept\n");
  });

  it("resolves workdir relative to the repository root, and finds the root from a job file deep inside it", async () => {
    const { dir, file } = repo('echo "$PWD"; cat keep.txt', "  workdir: sub\n");
    const r = await hodei(["run", file, "--in-place"], { env, cwd: join(dir, "sub") });
    expect(r.code).toBe(0);
    expect(r.stdout.toString()).toBe(`${join(dir, "sub")}\nkept\n`);
  });

  it("outside any repository runs in the job file's directory", async () => {
    const dir = realpathSync(tempDir("hodei-inplace-plain-"));
    writeFileSync(join(dir, "data.txt"), "plain dir\n");
    const file = join(dir, "job.yaml");
    writeFileSync(file, job("plain", 'cat data.txt; echo "$HODEI_WORKSPACE"; echo wrote > written.txt'));
    const r = await hodei(["run", file, "--in-place"], { env });
    expect(r.code).toBe(0);
    expect(r.stdout.toString()).toBe(`plain dir\n${dir}\n`);
    expect(readdirSync(dir).sort()).toEqual(["data.txt", "job.yaml", "written.txt"]);
  });

  it("a rerun runs in the same tree again", async () => {
    const { dir, file } = repo("echo once >> ignored.txt");
    const first = await hodeiJson<{ id: string; state: string }>(["run", file, "--in-place"], { env });
    expect(first.state).toBe("succeeded");
    const re = await hodeiJson<{ id: string }>(["rerun", first.id], { env });
    const ended = await eventually(async () => {
      const { state } = await hodeiJson<{ state: string }>(["runs", "get", re.id], { env });
      return ["succeeded", "failed", "cancelled", "timed_out"].includes(state) ? state : undefined;
    }, "the rerun to end");
    expect(ended).toBe("succeeded");
    expect(readFileSync(join(dir, "ignored.txt"), "utf8")).toBe("ignored, never bundled\nonce\nonce\n");
  });

  it("--help describes it", async () => {
    const r = await hodei(["run", "--help"], { env });
    expect(r.stdout.toString()).toContain("--in-place");
  });
});

describe("hodei run --in-place refuses what it cannot do (usage errors, exit 2)", () => {
  const env = { HODEI_DATA_DIR: join(tempDir("hodei-inplace-usage-"), "data") };
  const { dir, file } = repo("echo should-not-run > ran.txt");
  const cases: [string, string[], NodeJS.ProcessEnv, string][] = [
    ["--controller", ["run", file, "--in-place", "--controller", "127.0.0.1:1"], {}, "--in-place runs the job in this machine's working tree, so it needs the embedded controller; a remote agent cannot see these files"],
    ["HODEI_CONTROLLER", ["run", file, "--in-place"], { HODEI_CONTROLLER: "127.0.0.1:1" }, "--in-place runs the job in this machine's working tree, so it needs the embedded controller"],
    ["--no-source", ["run", file, "--in-place", "--no-source"], {}, "--in-place and --no-source contradict each other"],
    ["--repo", ["run", "here", "--in-place", "--repo", "web"], {}, "--in-place has no meaning with --repo"],
    ["stdin", ["run", "-", "--in-place"], {}, "`hodei run - --in-place` has no job file to find a working tree by"],
  ];
  it.each(cases)("%s", async (_name, args, extra, message) => {
    const r = await hodei(args, { env: { ...env, ...extra } });
    expect(r.stderr).toContain(message);
    expect(r.code).toBe(2);
    // Refused before anything started: no daemon, no run, nothing written.
    expect(existsSync(join(env.HODEI_DATA_DIR!, "controller.sock"))).toBe(false);
    expect(existsSync(join(dir, "ran.txt"))).toBe(false);
  });
});

describe("`hodei controller` (not the embedded daemon)", () => {
  it("refuses a submit carrying in_place_dir, whoever sends it, and makes no run", async () => {
    const ctl = await startController({ dataDir: join(tempDir("hodei-inplace-ctl-"), "data") });
    try {
      const dir = realpathSync(tempDir("hodei-inplace-target-"));
      const jobJson = JSON.stringify({ apiVersion: "hodei.dev/v1", kind: "Job", metadata: { name: "ip" }, spec: { run: "echo hi > hi.txt" } });
      const err = await ctl.client.submitRun({ jobJson, source: "t", idempotencyKey: "ip-e2e", inPlaceDir: dir }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ControllerError);
      expect(err).toMatchObject({ kind: "conflict" });
      expect((err as Error).message).toContain("this controller does not run jobs in place");
      expect(await ctl.client.listRuns({})).toEqual([]);
      expect(readdirSync(dir)).toEqual([]);
    } finally {
      await ctl.stop();
    }
  });
});
