/**
 * Real git repositories in temp dirs, for GitOps tests: a working repo whose
 * commits the test makes, with a fixed identity and no global config.
 */
import { execFileSync } from "node:child_process";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { tempDir } from "./procs.js";

const ENV = {
  ...process.env,
  GIT_AUTHOR_NAME: "Hodei Test",
  GIT_AUTHOR_EMAIL: "test@hodei.invalid",
  GIT_COMMITTER_NAME: "Hodei Test",
  GIT_COMMITTER_EMAIL: "test@hodei.invalid",
  GIT_CONFIG_GLOBAL: "/dev/null",
  GIT_CONFIG_NOSYSTEM: "1",
};

export function git(cwd: string, ...args: string[]): string {
  return execFileSync("git", args, { cwd, env: ENV, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] }).trim();
}

export interface TestRepo {
  dir: string;
  /** Writes the files (null deletes one), commits them on the current branch, returns the commit. */
  commit(files: Record<string, string | null>, message?: string): string;
  head(): string;
}

/** A new repository with branch `main` and no commits. */
export function createRepo(prefix = "hodei-git-"): TestRepo {
  const dir = join(tempDir(prefix), "repo");
  mkdirSync(dir);
  git(dir, "init", "-q", "-b", "main");
  return {
    dir,
    commit(files, message = "change") {
      for (const [path, text] of Object.entries(files)) {
        const p = join(dir, path);
        if (text === null) rmSync(p, { force: true });
        else {
          mkdirSync(dirname(p), { recursive: true });
          writeFileSync(p, text);
        }
      }
      git(dir, "add", "-A");
      git(dir, "commit", "-q", "--allow-empty", "-m", message);
      return git(dir, "rev-parse", "HEAD");
    },
    head: () => git(dir, "rev-parse", "HEAD"),
  };
}

/** A Job document as YAML. */
export function jobYaml(name: string, spec: string): string {
  return `apiVersion: hodei.dev/v1\nkind: Job\nmetadata: { name: ${name} }\nspec:\n${spec.replace(/^/gm, "  ")}\n`;
}
