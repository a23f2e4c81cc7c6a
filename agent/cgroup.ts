// Cgroups, the one reliable "every process of this job": a process can leave
// its process group (setsid, daemonizing) but not its cgroup, and its
// children are born in it. The agent makes one directory under its own cgroup,
// hodei-agent-<pid>-<n>, and in it one cgroup per run.
//
//   v2: cgroup.procs lists the members, writing 1 to cgroup.kill SIGKILLs all
//       of them at once (Linux ≥ 5.14). No controller is needed or enabled,
//       so the agent may stay in its own cgroup next to its children.
//   v1: the freezer hierarchy: freeze (nobody can fork any more), SIGKILL
//       every pid in cgroup.procs, thaw (the signals are delivered).
//
// All calls are synchronous and small (a few bytes to pseudo-files), except
// the wait for processes to be gone.
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync, rmdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { CgroupError } from "./errors.js";

export type CgroupVersion = 1 | 2;

/** The agent's own cgroup directory in each hierarchy it can use. */
export interface OwnCgroups {
  v2?: string;
  v1Freezer?: string;
}

/** The shell that joins a job to its cgroup (process-executor.ts) and probes the hierarchy here. */
export const SHELL = "/bin/sh";

/** From /proc/self/cgroup and /proc/self/mounts: where the agent's own cgroups are. */
export function ownCgroups(procCgroup: string, procMounts: string): OwnCgroups {
  // /proc/mounts fields: device mountpoint fstype options ...; spaces in paths are \040.
  const mounts = procMounts.split("\n").map((line) => line.split(" ").map((f) => f.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)))));
  const v2Mount = mounts.find((f) => f[2] === "cgroup2")?.[1];
  const freezerMount = mounts.find((f) => f[2] === "cgroup" && (f[3] ?? "").split(",").includes("freezer"))?.[1];
  const own: OwnCgroups = {};
  for (const line of procCgroup.split("\n")) {
    // "<id>:<controllers>:<path>"; v2 is "0::<path>". The path may contain ':'.
    const m = /^(\d+):([^:]*):(.*)$/.exec(line.trim());
    if (!m) continue;
    const [, id, controllers = "", path = "/"] = m;
    if (id === "0" && controllers === "" && v2Mount) own.v2 = join(v2Mount, path);
    if (controllers.split(",").includes("freezer") && freezerMount) own.v1Freezer = join(freezerMount, path);
  }
  return own;
}

export function readOwnCgroups(): OwnCgroups {
  try {
    return ownCgroups(readFileSync("/proc/self/cgroup", "utf8"), readFileSync("/proc/self/mounts", "utf8"));
  } catch {
    return {}; // not Linux, or no /proc
  }
}

let agentDirs = 0;

/** The agent's directory of run cgroups in one hierarchy. */
export class CgroupRoot {
  private constructor(
    readonly version: CgroupVersion,
    readonly dir: string,
  ) {}

  /**
   * Creates `<parent>/hodei-agent-<pid>-<n>` and proves a process can be moved
   * into a cgroup below it (a writable directory is not enough: joining
   * needs write access to the common ancestor's cgroup.procs). Throws CgroupError.
   */
  static open(version: CgroupVersion, parent: string): CgroupRoot {
    removeStale(parent);
    const dir = join(parent, `hodei-agent-${process.pid}-${++agentDirs}`);
    mkdirOrThrow(dir);
    const root = new CgroupRoot(version, dir);
    try {
      const needed = version === 2 ? "cgroup.kill" : "freezer.state";
      if (!existsSync(join(dir, needed))) throw new CgroupError(`${dir} has no ${needed}${version === 2 ? " (Linux 5.14 or later)" : ""}`, dir);
      const probe = root.create("probe");
      const r = spawnSync(SHELL, ["-c", 'echo $$ > "$1"', "hodei-probe", probe.procsFile], { encoding: "utf8", timeout: 5_000 });
      probe.remove();
      if (r.status !== 0) throw new CgroupError(`cannot move a process into ${probe.dir}: ${(r.stderr || r.error?.message || `exit ${r.status}`).trim()}`, probe.dir);
    } catch (err) {
      root.close();
      throw err;
    }
    return root;
  }

  /** A new, empty cgroup for one run. Throws CgroupError. */
  create(name: string): RunCgroup {
    const dir = join(this.dir, name);
    mkdirOrThrow(dir);
    return new RunCgroup(this.version, dir);
  }

  /** Remove the agent's directory (once every run cgroup in it is removed). */
  close(): boolean {
    return rmdirQuiet(this.dir);
  }
}

export class RunCgroup {
  constructor(
    readonly version: CgroupVersion,
    readonly dir: string,
  ) {}

  /** Writing a pid here moves that process (all its threads) into the cgroup. */
  get procsFile(): string {
    return join(this.dir, "cgroup.procs");
  }

  /** Live members (zombies are not listed); [] once the cgroup is gone. */
  pids(): number[] {
    let text: string;
    try {
      text = readFileSync(this.procsFile, "utf8");
    } catch {
      return [];
    }
    return text.split("\n").filter(Boolean).map(Number);
  }

  signal(signal: NodeJS.Signals): void {
    for (const pid of this.pids()) signalQuiet(pid, signal);
  }

  /** SIGKILL every member at once; a member cannot fork its way out meanwhile. */
  async killAll(): Promise<void> {
    if (this.version === 2) {
      writeQuiet(join(this.dir, "cgroup.kill"), "1");
      return;
    }
    // v1: a frozen process cannot fork, so one pass over cgroup.procs gets all
    // of them; the SIGKILLs take effect on thaw. Repeat in case freezing timed out.
    const state = join(this.dir, "freezer.state");
    for (let round = 0; round < 5 && this.pids().length > 0; round++) {
      if (!writeQuiet(state, "FROZEN")) return;
      for (let i = 0; i < 100 && readQuiet(state) !== "FROZEN"; i++) await sleep(10);
      for (const pid of this.pids()) signalQuiet(pid, "SIGKILL");
      writeQuiet(state, "THAWED");
    }
  }

  /** Resolves true once no member is left (polling; a cgroup of zombies is empty), false after timeoutMs. */
  async waitEmpty(timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (this.pids().length > 0) {
      if (Date.now() > deadline) return false;
      await sleep(20);
    }
    return true;
  }

  /** rmdir: true when removed (or already gone), false while it still has members. */
  remove(): boolean {
    return rmdirQuiet(this.dir);
  }
}

/** Directories left by agents that died (their pid is gone): remove the empty ones. */
function removeStale(parent: string): void {
  let names: string[];
  try {
    names = readdirSync(parent);
  } catch {
    return;
  }
  for (const name of names) {
    const pid = Number(/^hodei-agent-(\d+)-\d+$/.exec(name)?.[1]);
    if (!pid || pidExists(pid)) continue;
    const dir = join(parent, name);
    // A run cgroup that still has processes keeps its parent: those jobs are
    // running unsupervised, and the controller fails their runs (docs/agent.md).
    for (const child of safeReaddir(dir)) rmdirQuiet(join(dir, child));
    rmdirQuiet(dir);
  }
}

function mkdirOrThrow(dir: string): void {
  try {
    mkdirSync(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "EEXIST" && rmdirQuiet(dir)) return mkdirOrThrow(dir); // left by an earlier agent with our pid
    throw new CgroupError(`cannot create cgroup ${dir}: ${(err as Error).message}`, dir, { cause: err });
  }
}

function rmdirQuiet(dir: string): boolean {
  try {
    rmdirSync(dir);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "ENOENT";
  }
}

function safeReaddir(dir: string): string[] {
  try {
    return readdirSync(dir, { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => d.name);
  } catch {
    return [];
  }
}

function writeQuiet(file: string, text: string): boolean {
  try {
    writeFileSync(file, text);
    return true;
  } catch {
    return false; // the cgroup is gone: nothing left to act on
  }
}

function readQuiet(file: string): string {
  try {
    return readFileSync(file, "utf8").trim();
  } catch {
    return "";
  }
}

export function signalQuiet(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch {
    // ESRCH: already gone
  }
}

function pidExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
