/**
 * What `hodei run` runs and what it says about it: a job by name from the
 * repository's .hodei/, from stdin, `-e` environment, the run id on stderr in
 * a pipe, warnings for fields not built yet, and `secrets:` refused before a
 * run exists. Against the built hodei on the embedded default.
 */
import { describe, expect, it } from "vitest";
import { execFileSync } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { hodei, hodeiJson, tempDir, type Result } from "../helpers/procs.js";
import { UNBUILT } from "../../schemas/unbuilt.js";

const dataDir = tempDir("hodei-target-");
const env = { HODEI_DATA_DIR: dataDir };

const job = (name: string, spec: string): string => `apiVersion: hodei.dev/v1\nkind: Job\nmetadata: { name: ${name} }\nspec:\n${spec}`;

/** `hodei ARGS` with `input` on its stdin. */
/** `hodei ARGS` with `input` on its stdin, in this file's data dir, with no C in its environment unless given. */
const hodeiStdin = (args: string[], input: string, extraEnv: NodeJS.ProcessEnv = {}): Promise<Result> => hodei(args, { input, env: { C: undefined, ...env, ...extraEnv } });

/** A git repository with .hodei/jobs/{greet,build}.yaml and a subdirectory. */
function repo(): string {
  const dir = tempDir("hodei-repo-");
  execFileSync("git", ["init", "-q", dir]);
  mkdirSync(join(dir, ".hodei/jobs"), { recursive: true });
  mkdirSync(join(dir, "src/deep"), { recursive: true });
  writeFileSync(join(dir, ".hodei/jobs/greet.yaml"), job("greet", '  run: echo "greet says ${WHO:-nobody}"\n'));
  writeFileSync(join(dir, ".hodei/jobs/build.yaml"), job("build", "  run: echo build ran\n"));
  return dir;
}

// Each test runs hodei several times; the first also starts the embedded controller on a fresh data dir, slow on a busy machine.
const SLOW = { timeout: 300_000 };

describe("hodei run TARGET", SLOW, () => {
  it("runs a job by name from the repository's .hodei/, from its root and from a subdirectory, and says the run id once on stderr", async () => {
    const dir = repo();
    const top = await hodei(["run", "greet"], { env, cwd: dir });
    expect([top.code, top.stdout.toString()]).toEqual([0, "greet says nobody\n"]);
    const id = /^hodei: run (\d+)\n$/.exec(top.stderr)?.[1];
    expect(id).toBeDefined();
    const deep = await hodei(["run", "build"], { env, cwd: join(dir, "src/deep") });
    expect([deep.code, deep.stdout.toString()]).toEqual([0, "build ran\n"]);
    const { runs } = await hodeiJson<{ runs: { id: string; job: string; source: string }[] }>(["runs", "ls", "--limit", "2"], { env });
    expect(runs.map((r) => r.job)).toEqual(["build", "greet"]);
    expect(runs[1]!.id).toBe(id);
  });

  it("refuses an unknown name with the jobs there and the closest one, exit 2, before running anything", async () => {
    const dir = repo();
    const r = await hodei(["run", "gret"], { env, cwd: dir });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('no job named "gret" in .hodei; did you mean "greet"? (jobs: build, greet)');
  });

  it("says where it looked when there is no .hodei/ around", async () => {
    const dir = tempDir("hodei-norepo-");
    execFileSync("git", ["init", "-q", dir]);
    const r = await hodei(["run", "greet"], { env, cwd: dir });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`"greet" is not a file, and there is no .hodei/ folder in ${dir}`);
  });

  it("reads the job from stdin with `-`, and adds -e KEY=VALUE and -e KEY to its environment", async () => {
    const spec = job("from-stdin", '  env: { A: from-file, B: from-file }\n  run: echo "$A $B $C"\n');
    const r = await hodeiStdin(["run", "-", "-e", "A=from-flag=with-equals", "-e", "C"], spec, { C: "from-env" });
    expect(r.stderr).toMatch(/^hodei: run \d+\n$/);
    expect([r.code, r.stdout.toString()]).toEqual([0, "from-flag=with-equals from-file from-env\n"]);
    // -e C with C unset in our environment is an error, not an empty value
    const withC = await hodeiStdin(["run", "-", "-e", "C"], spec);
    expect(withC.code).toBe(2);
    expect(withC.stderr).toContain("-e C: C is not set in this environment; give a value with -e C=VALUE");
  });

  it("refuses bad -e names and stdin that is not a job, exit 2", async () => {
    const bad = await hodeiStdin(["run", "-", "-e", "1X=y"], job("x", "  run: echo\n"));
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('invalid environment variable name "1X"');
    const notJob = await hodeiStdin(["run", "-"], "just: text\n");
    expect(notJob.code).toBe(2);
    expect(notJob.stderr).toContain("<stdin>");
  });
});

/**
 * One job with every unbuilt Job field, plus a Policy and a Provider; and
 * triggers and secrets, which are built: no warning.
 */
const UNBUILT_JOB = job(
  "unbuilt",
  [
    "  run: echo still runs",
    "  image: node:20",
    "  resources: { cpu: 1, memory: 512Mi }",
    "  concurrency: { group: deploy }",
    "  triggers:",
    "    push: { branches: [main] }",
    "    schedule: ['0 * * * *']",
    "    pullRequest: {}",
    "    reportSkipped: true",
    "",
  ].join("\n"),
);
const POLICY = "apiVersion: hodei.dev/v1\nkind: Policy\nmetadata: { name: p }\nspec: { quotas: { concurrentRuns: 1 } }\n";
const PROVIDER = "apiVersion: hodei.dev/v1\nkind: Provider\nmetadata: { name: local }\nspec: { type: local }\n";
const SECRETS_JOB = job("needs-secret", "  secrets: [API_TOKEN]\n  run: echo should never run\n");

describe("fields accepted but not built yet", SLOW, () => {
  const dir = tempDir("hodei-unbuilt-");
  const file = join(dir, "all.yaml");
  writeFileSync(file, [UNBUILT_JOB, POLICY, PROVIDER, SECRETS_JOB].join("---\n"));
  const runFile = join(dir, "run.yaml");
  writeFileSync(runFile, UNBUILT_JOB);
  const secretsFile = join(dir, "secrets.yaml");
  writeFileSync(secretsFile, SECRETS_JOB);

  it("hodei validate warns about each on stderr with its line, and stays valid (exit 0)", async () => {
    const r = await hodei(["validate", file]);
    expect(r.code).toBe(0);
    expect(r.stdout.toString()).toBe("");
    const lines = r.stderr.trimEnd().split("\n");
    // Every row of the table shows up once, at the line of its field (or of its document).
    expect(lines.slice(0, -1)).toEqual([
      `${file}:6:3: warning: ${UNBUILT[2]!.message} (at /spec/image)`,
      `${file}:8:3: warning: ${UNBUILT[0]!.message} (at /spec/concurrency)`,
      `${file}:7:3: warning: ${UNBUILT[1]!.message} (at /spec/resources)`,
      `${file}:15:1: warning: ${UNBUILT[3]!.message}`,
      `${file}:20:1: warning: ${UNBUILT[4]!.message}`,
    ].sort((a, b) => lineOf(a) - lineOf(b)));
    expect(lines.at(-1)).toBe("4 documents valid in 1 file (5 warnings: accepted but not acted on yet)");
    expect(UNBUILT).toHaveLength(5);
    expect(r.stderr).not.toContain("/spec/triggers");
    expect(r.stderr).not.toContain("/spec/secrets");
  });

  it("hodei validate --json carries them as data", async () => {
    const out = await hodeiJson<{ valid: boolean; warnings: { pointer: string; line: number; message: string }[] }>(["validate", file]);
    expect(out.valid).toBe(true);
    expect(out.warnings.map((w) => w.pointer).sort()).toEqual(UNBUILT.map((u) => u.pointer).sort());
    expect(out.warnings.find((w) => w.pointer === "/spec/concurrency")).toMatchObject({ line: 8, message: "`concurrency` is not enforced yet; the run may overlap others in its group" });
  });

  it("hodei run warns on stderr and still runs; --json carries the warnings", async () => {
    const r = await hodei(["run", runFile], { env });
    expect([r.code, r.stdout.toString()]).toEqual([0, "still runs\n"]);
    for (const pointer of ["/spec/image", "/spec/resources", "/spec/concurrency"]) {
      expect(r.stderr).toContain(`hodei: ${runFile}:`);
      expect(r.stderr).toContain(`(at ${pointer})`);
    }
    expect(r.stderr).toContain("warning: `concurrency` is not enforced yet; the run may overlap others in its group");
    const json = await hodeiJson<{ state: string; warnings: { pointer: string }[] }>(["run", runFile], { env });
    expect(json.state).toBe("succeeded");
    expect(json.warnings.map((w) => w.pointer)).toEqual(["/spec/image", "/spec/resources", "/spec/concurrency"]);
  });

  it("secrets: a job whose secret is not set fails before anything of it runs, saying which and how to set it", async () => {
    const r = await hodei(["run", secretsFile], { env });
    expect(r.code).not.toBe(0);
    expect(r.stdout.toString()).not.toContain("should never run");
    expect(r.stderr).toContain("secret API_TOKEN is not set for project default nor for every project; set it with `hodei secrets set NAME`");
    const runs = (await hodeiJson<{ runs: { job: string; state: string }[] }>(["runs", "ls", "--limit", "1000"], { env })).runs;
    expect(runs.find((x) => x.job === "needs-secret")?.state).toBe("failed");
  });
});

const lineOf = (s: string): number => Number(/:(\d+):\d+: warning/.exec(s)?.[1]);
