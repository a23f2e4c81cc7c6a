/**
 * cli/resolve-job.ts on real files in temp dirs: -e parsing, and which job a
 * target means (a file, or a name under the repository's .hodei/).
 */
import { describe, expect, it } from "vitest";
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { findRepoRoot, parseEnvFlags, resolveJob, withEnv } from "../../../cli/resolve-job.js";
import { UsageError } from "../../../cli/errors.js";

const job = (name: string, extra = ""): string => `apiVersion: hodei.dev/v1\nkind: Job\nmetadata: { name: ${name} }\nspec:\n  run: echo ${name}\n${extra}`;

describe("parseEnvFlags", () => {
  it("takes KEY=VALUE (the value may hold '=' or be empty) and KEY from the environment", () => {
    expect(parseEnvFlags(["A=x=y", "B=", "C"], { C: "from-env" })).toEqual({ A: "x=y", B: "", C: "from-env" });
  });

  it.each([
    [["1A=x"], 'invalid environment variable name "1A"'],
    [["=x"], 'invalid environment variable name ""'],
    [["A-B=x"], 'invalid environment variable name "A-B"'],
    [["UNSET_HERE"], "UNSET_HERE is not set in this environment"],
    [["A=x\0y"], "NUL character"],
  ])("refuses %j", (flags, message) => {
    expect(() => parseEnvFlags(flags, {})).toThrow(UsageError);
    expect(() => parseEnvFlags(flags, {})).toThrow(message);
  });

  it("adds over the job's env without touching the original", async () => {
    const dir = mkdtempSync(join(tmpdir(), "hodei-resolve-"));
    writeFileSync(join(dir, "j.yaml"), job("j", "  env: { A: file, B: file }\n"));
    const { job: j } = await resolveJob("j.yaml", undefined, dir);
    expect(withEnv(j, { A: "flag" }).spec.env).toEqual({ A: "flag", B: "file" });
    expect(j.spec.env).toEqual({ A: "file", B: "file" });
  });
});

describe("resolveJob", () => {
  const repo = mkdtempSync(join(tmpdir(), "hodei-resolve-repo-"));
  mkdirSync(join(repo, ".git"));
  mkdirSync(join(repo, ".hodei/jobs"), { recursive: true });
  mkdirSync(join(repo, "a/b"), { recursive: true });
  writeFileSync(join(repo, ".hodei/jobs/both.yaml"), `${job("lint")}---\n${job("test", "  concurrency: { group: g }\n")}`);

  it("finds the repository root from a subdirectory", () => {
    expect(findRepoRoot(join(repo, "a/b"))).toBe(repo);
  });

  it("resolves a name from a subdirectory, with the file as source and its warnings", async () => {
    const r = await resolveJob("test", undefined, join(repo, "a/b"));
    expect(r.job.metadata.name).toBe("test");
    expect(r.source).toBe("../../.hodei/jobs/both.yaml");
    expect(r.warnings.map((w) => [w.file, w.line, w.pointer])).toEqual([["../../.hodei/jobs/both.yaml", 12, "/spec/concurrency"]]);
  });

  it("a file with two jobs needs --job, and names them", async () => {
    await expect(resolveJob(".hodei/jobs/both.yaml", undefined, repo)).rejects.toThrow(".hodei/jobs/both.yaml defines 2 jobs (lint, test); choose one with --job NAME");
    expect((await resolveJob(".hodei/jobs/both.yaml", "lint", repo)).job.metadata.name).toBe("lint");
    await expect(resolveJob(".hodei/jobs/both.yaml", "tset", repo)).rejects.toThrow('no job named "tset" in .hodei/jobs/both.yaml; did you mean "test"? (jobs: lint, test)');
  });

  it("refuses --job with a name, and a missing file that looks like a path", async () => {
    await expect(resolveJob("lint", "test", repo)).rejects.toThrow("--job picks a job inside a file");
    await expect(resolveJob("nope.yaml", undefined, repo)).rejects.toThrow("nope.yaml: no such file or directory");
  });
});
