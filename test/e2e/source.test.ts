/**
 * The working tree in the job (issue 7, item 4), the "remote controller" path:
 * the built `hodei run` packs the files around the job file, a controller on
 * PostgreSQL stores the bundle, and a separate agent process fetches it and
 * unpacks it into the run's workspace.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { execFileSync } from "node:child_process";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { createTestDatabase } from "../helpers/db.js";
import { hodei, startAgent, startController, tempDir, type ControllerProc, type Proc } from "../helpers/procs.js";

let db: Awaited<ReturnType<typeof createTestDatabase>>;
let controller: ControllerProc;
let agent: Proc;
const env = (): NodeJS.ProcessEnv => ({ HODEI_CONTROLLER: controller.address });

beforeAll(async () => {
  db = await createTestDatabase();
  controller = await startController({ databaseUrl: db.url });
  agent = await startAgent(controller, { name: "source-agent", slots: 2 });
});

afterAll(async () => {
  await agent?.stop();
  await controller?.stop();
  await db?.drop();
});

const git = (cwd: string, ...args: string[]): string =>
  execFileSync("git", ["-c", "user.email=t@example.com", "-c", "user.name=t", "-c", "init.defaultBranch=main", ...args], { cwd, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });

function job(name: string, script: string, extra = ""): string {
  const indented = script.split("\n").map((l) => `    ${l}`).join("\n");
  return `apiVersion: hodei.dev/v1\nkind: Job\nmetadata:\n  name: ${name}\nspec:\n  timeout: 1m\n${extra}  run: |\n${indented}\n`;
}

/** A repository with a committed file edited but not committed, an untracked file, an ignored one and a deleted one. */
function repo(script: string, extra = ""): { dir: string; file: string } {
  const dir = tempDir("hodei-src-repo-");
  git(dir, "init", "-q");
  writeFileSync(join(dir, "tracked.txt"), "committed\n");
  writeFileSync(join(dir, "gone.txt"), "deleted in the working tree\n");
  writeFileSync(join(dir, ".gitignore"), "ignored.txt\n");
  mkdirSync(join(dir, "sub"));
  writeFileSync(join(dir, "sub", "tool.sh"), "#!/bin/sh\necho tool ran\n", { mode: 0o755 });
  mkdirSync(join(dir, ".hodei", "jobs"), { recursive: true });
  const file = join(dir, ".hodei", "jobs", "see.yaml");
  writeFileSync(file, job("see", script, extra));
  git(dir, "add", "-A");
  git(dir, "commit", "-qm", "first");
  writeFileSync(join(dir, "tracked.txt"), "edited, not committed\n");
  writeFileSync(join(dir, "new.txt"), "untracked\n");
  writeFileSync(join(dir, "ignored.txt"), "secret\n");
  rmSync(join(dir, "gone.txt"));
  return { dir, file };
}

describe("hodei run with the working tree (controller on PostgreSQL, separate agent)", () => {
  it("the job sees tracked files with their uncommitted edits and untracked files, not ignored or deleted ones", async () => {
    const { file } = repo(
      [
        "cat tracked.txt new.txt",
        "if [ -e ignored.txt ]; then echo ignored-present; else echo no-ignored; fi",
        "if [ -e gone.txt ]; then echo gone-present; else echo no-gone; fi",
        "sub/tool.sh",
        'test "$PWD" = "$HODEI_WORKSPACE" && echo cwd-is-workspace',
      ].join("\n"),
    );
    const r = await hodei(["run", file], { env: env() });
    expect(r.stderr).toMatch(/^hodei: run \d+\n$/); // only the run id, said once in a pipe
    expect(r.code).toBe(0);
    expect(r.stdout.toString()).toBe("edited, not committed\nuntracked\nno-ignored\nno-gone\ntool ran\ncwd-is-workspace\n");
  });

  it("resolves workdir relative to the workspace", async () => {
    const { file } = repo('pwd | sed "s|^$HODEI_WORKSPACE|WS|"; ./tool.sh', "  workdir: sub\n");
    const r = await hodei(["run", file], { env: env() });
    expect(r.code).toBe(0);
    expect(r.stdout.toString()).toBe("WS/sub\ntool ran\n");
  });

  it("a file outside any repository runs with its directory's content", async () => {
    const dir = tempDir("hodei-src-plain-");
    expect(() => git(dir, "rev-parse", "--show-toplevel")).toThrow();
    mkdirSync(join(dir, "data"));
    writeFileSync(join(dir, "data", "input.txt"), "plain dir\n");
    writeFileSync(join(dir, "job.yaml"), job("plain", "cat data/input.txt\nls job.yaml"));
    const r = await hodei(["run", join(dir, "job.yaml")], { env: env() });
    expect(r.code).toBe(0);
    expect(r.stdout.toString()).toBe("plain dir\njob.yaml\n");
  });

  it("--no-source starts the job in an empty workspace", async () => {
    const { file } = repo("if [ -e tracked.txt ]; then echo has-tree; else echo empty; fi");
    const r = await hodei(["run", file, "--no-source"], { env: env() });
    expect(r.code).toBe(0);
    expect(r.stdout.toString()).toBe("empty\n");
  });

  it("a tree over the limit is refused before anything is submitted, naming the limit and --no-source", async () => {
    const dir = tempDir("hodei-src-big-");
    writeFileSync(join(dir, "big.bin"), randomBytes(16 * 1024 * 1024)); // random bytes do not compress
    writeFileSync(join(dir, "job.yaml"), job("big-tree", "echo ran"));
    const r = await hodei(["run", join(dir, "job.yaml")], { env: env() });
    expect(r.code).toBe(2);
    // It stops reading at the first file past the limit (big.bin sorts before job.yaml).
    expect(r.stderr).toMatch(/is over 16\.\d MiB compressed \(1 files so far\); the limit is 15\.0 MiB/);
    expect(r.stderr).toContain("--no-source");
    expect(r.stdout.toString()).toBe("");
    const ok = await hodei(["run", join(dir, "job.yaml"), "--no-source"], { env: env() });
    expect(ok.code).toBe(0);
    expect(ok.stdout.toString()).toBe("ran\n");
  });
});

describe("hodei run with the working tree on the embedded default", () => {
  it("the job sees the repository's files with an uncommitted edit, not an ignored file", async () => {
    const { file } = repo("cat tracked.txt new.txt\nif [ -e ignored.txt ]; then echo ignored-present; else echo no-ignored; fi");
    const r = await hodei(["run", file], { env: { HODEI_DATA_DIR: tempDir("hodei-src-embedded-") } });
    expect(r.stderr).toMatch(/^hodei: run \d+\n$/);
    expect(r.code).toBe(0);
    expect(r.stdout.toString()).toBe("edited, not committed\nuntracked\nno-ignored\n");
  });
});
