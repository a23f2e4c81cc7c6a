/**
 * Shell completion from the built `hodei`, in the real shells: bash and zsh
 * through @oclif/plugin-autocomplete (its cache under HODEI_CACHE_DIR), fish
 * through `hodei autocomplete fish`. Each shell is asked what it would offer.
 */
import { execFileSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { hodei, tempDir } from "../helpers/procs.js";

const has = (shell: string): boolean => {
  try {
    execFileSync("sh", ["-c", `command -v ${shell}`]);
    return true;
  } catch {
    return false;
  }
};

let cache: string;

beforeAll(async () => {
  cache = tempDir("hodei-ac-");
  const r = await hodei(["autocomplete", "--refresh-cache"], { env: { HODEI_CACHE_DIR: cache } });
  expect(r.code, r.stderr).toBe(0);
});

describe("shell completion", () => {
  it("bash completes commands, subcommands and flags", () => {
    const offer = (words: string): string =>
      execFileSync("bash", ["-c", `source "$1"; COMP_WORDS=(${words}); COMP_CWORD=$((\${#COMP_WORDS[@]}-1)); _hodei_autocomplete; echo "\${COMPREPLY[*]}"`, "bash", join(cache, "autocomplete/functions/bash/hodei.bash")]).toString().trim();
    expect(offer("hodei ru").split(" ")).toEqual(expect.arrayContaining(["run", "runs"]));
    expect(offer("hodei runs l")).toBe("ls");
    expect(offer("hodei logs --st")).toBe("--stream");
    expect(offer("hodei context a")).toBe("add");
  });

  it("zsh loads the completion function", () => {
    if (!has("zsh")) throw new Error("zsh is not installed (.ci/run installs it)");
    const out = execFileSync("zsh", ["-c", `fpath=("$1" $fpath); autoload -U compinit; compinit -u -D; autoload -U _hodei; whence -w _hodei; zsh -n "$1/_hodei" && echo syntax-ok`, "zsh", join(cache, "autocomplete/functions/zsh")]).toString();
    expect(out).toContain("_hodei: function");
    expect(out).toContain("syntax-ok");
  });

  it("fish completes commands, subcommands, flags and a flag's choices", async () => {
    if (!has("fish")) throw new Error("fish is not installed (.ci/run installs it)");
    const r = await hodei(["autocomplete", "fish"]);
    expect(r.code).toBe(0);
    const script = join(tempDir("hodei-fish-"), "hodei.fish");
    writeFileSync(script, r.stdout);
    const offer = (line: string): string[] =>
      execFileSync("fish", ["-c", `source $argv[1]; complete -C $argv[2]`, script, line])
        .toString()
        .trim()
        .split("\n")
        .map((l) => l.split("\t")[0]!);
    expect(offer("hodei ru")).toEqual(["run", "runs"]);
    expect(offer("hodei runs ")).toEqual(["get", "ls"]);
    expect(offer("hodei context ")).toEqual(["add", "ls", "rm", "use"]);
    expect(offer("hodei logs 42 --str")).toEqual(["--stream"]);
    expect(offer("hodei logs 42 --stream ")).toEqual(["stderr", "stdout"]);
    expect(offer("hodei runs ls --li")).toEqual(["--limit"]);
  });
});
