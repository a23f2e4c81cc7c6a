/**
 * The GitHub Action run the way the runner runs it: `node action/dist/index.js`
 * with its inputs as INPUT_<NAME> variables (upper case, spaces to "_",
 * hyphens kept: INPUT_FOLLOW-LOGS) and GITHUB_OUTPUT, GITHUB_STEP_SUMMARY,
 * GITHUB_WORKSPACE, GITHUB_SHA, GITHUB_RUN_ID, GITHUB_RUN_ATTEMPT pointing
 * into a temporary directory, as a runner sets them for a step.
 */
import { spawn, execFileSync, type ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { ROOT, tempDir } from "./procs.js";

export const ACTION = join(ROOT, "action/dist/index.js");

export interface ActionResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** The workflow log: what the runner reads for workflow commands. */
  stdout: string;
  stderr: string;
  outputs: Record<string, string>;
  summary: string;
}

export interface Step {
  /** The step's files: GITHUB_OUTPUT, GITHUB_STEP_SUMMARY, RUNNER_TEMP. */
  dir: string;
  env: NodeJS.ProcessEnv;
}

/** A workflow step's environment, in a new temporary directory, for a workspace. */
export function step(workspace: string, o: { runId?: string; attempt?: string; action?: string; sha?: string; env?: NodeJS.ProcessEnv } = {}): Step {
  const dir = tempDir("hodei-step-");
  mkdirSync(join(dir, "temp"));
  writeFileSync(join(dir, "output"), "");
  writeFileSync(join(dir, "summary"), "");
  const base: NodeJS.ProcessEnv = {};
  // The runner's environment, not the test's Hodei settings: the Action must use its inputs only.
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith("HODEI_") && !k.startsWith("INPUT_") && !k.startsWith("GITHUB_")) base[k] = v;
  return {
    dir,
    env: {
      ...base,
      GITHUB_ACTIONS: "true",
      GITHUB_OUTPUT: join(dir, "output"),
      GITHUB_STEP_SUMMARY: join(dir, "summary"),
      GITHUB_WORKSPACE: workspace,
      GITHUB_SHA: o.sha ?? "0123456789abcdef0123456789abcdef01234567",
      GITHUB_REPOSITORY: "acme/web",
      GITHUB_RUN_ID: o.runId ?? String(Math.floor(Math.random() * 1e9)),
      GITHUB_RUN_ATTEMPT: o.attempt ?? "1",
      GITHUB_JOB: "test",
      GITHUB_ACTION: o.action ?? "hodei",
      RUNNER_TEMP: join(dir, "temp"),
      ...o.env,
    },
  };
}

/** INPUT_<NAME> as the runner names it. */
export const inputVar = (name: string): string => `INPUT_${name.replace(/ /g, "_").toUpperCase()}`;

/** Starts the Action; `onStdout` sees the workflow log as it comes. */
export function startAction(s: Step, inputs: Record<string, string>, onStdout?: (text: string, p: ChildProcess) => void): { proc: ChildProcess; done: Promise<ActionResult> } {
  const env: NodeJS.ProcessEnv = { ...s.env };
  for (const [k, v] of Object.entries(inputs)) env[inputVar(k)] = v;
  const p = spawn(process.execPath, [ACTION], { cwd: s.env.GITHUB_WORKSPACE, env, stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  p.stdout!.on("data", (d: Buffer) => {
    stdout += d.toString();
    onStdout?.(stdout, p);
  });
  p.stderr!.on("data", (d: Buffer) => (stderr += d.toString()));
  const timer = setTimeout(() => p.kill("SIGKILL"), 240_000);
  const done = new Promise<ActionResult>((resolve, reject) => {
    p.on("error", reject);
    p.on("close", (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr, outputs: parseOutputs(readFileSync(s.env.GITHUB_OUTPUT!, "utf8")), summary: readFileSync(s.env.GITHUB_STEP_SUMMARY!, "utf8") });
    });
  });
  return { proc: p, done };
}

export const runAction = (s: Step, inputs: Record<string, string>): Promise<ActionResult> => startAction(s, inputs).done;

/** The GITHUB_OUTPUT file's `name<<DELIMITER\nvalue\nDELIMITER` entries (as @actions/core writes them). */
export function parseOutputs(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const m = /^([^<=]+)<<(.+)$/.exec(lines[i]!);
    if (!m) continue;
    const value: string[] = [];
    for (i++; i < lines.length && lines[i] !== m[2]; i++) value.push(lines[i]!);
    out[m[1]!] = value.join("\n");
  }
  return out;
}

/** A checked-out repository: a git work tree with the given files (e.g. `.hodei/jobs/x.yaml`), committed. */
export function workspace(files: Record<string, string>): { dir: string; sha: string } {
  const dir = tempDir("hodei-ws-");
  execFileSync("git", ["init", "-q", "-b", "main", dir]);
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(join(dir, path, ".."), { recursive: true });
    writeFileSync(join(dir, path), text);
  }
  const git = (...a: string[]) => execFileSync("git", ["-C", dir, "-c", "user.name=t", "-c", "user.email=t@example.com", ...a]).toString().trim();
  git("add", "-A");
  git("commit", "-q", "-m", "jobs");
  return { dir, sha: git("rev-parse", "HEAD") };
}

/** A directory with a `hodei` on PATH that runs this repository's built CLI (what `npm install -g hodei` gives a runner). */
export function hodeiOnPath(): string {
  const bin = tempDir("hodei-bin-");
  const script = join(bin, "hodei");
  if (!existsSync(script)) writeFileSync(script, `#!/bin/sh\nexec "${process.execPath}" "${join(ROOT, "bin/run.js")}" "$@"\n`, { mode: 0o755 });
  return bin;
}
