// A job's process tree and how to stop all of it: the kill method reported in
// Hello.kill_method.
//
//   process-group  kill(-pgid). A process that calls setsid (or daemonizes)
//                  leaves the group and survives.
//   cgroup-v2/v1   the process group AND every member of the run's cgroup
//                  (cgroup.ts); nothing started by the job escapes it.
//
// openTrees() picks the method once at startup: --kill-method auto takes the
// first cgroup hierarchy where the agent can create a cgroup and move a
// process into it, else process groups (e.g. not root, no delegation).
import type { Logger } from "pino";
import { CgroupRoot, readOwnCgroups, SHELL, signalQuiet, type CgroupVersion, type OwnCgroups, type RunCgroup } from "./cgroup.js";
import { CgroupError, ConfigError } from "./errors.js";
import { resolveExecutable, type LaunchPlan } from "./workspace.js";

export type KillMethod = "cgroup-v2" | "cgroup-v1" | "process-group";
/** What --kill-method accepts: "cgroup" = v2 or v1, whichever works; auto also falls back to process groups. */
export type KillMethodChoice = "auto" | "cgroup" | KillMethod;
export const KILL_METHOD_CHOICES: readonly KillMethodChoice[] = ["auto", "cgroup", "cgroup-v2", "cgroup-v1", "process-group"];

/** How long release() waits for killed processes to be gone before leaving the cgroup behind. */
const RELEASE_WAIT_MS = 5_000;

export interface SpawnPlan extends LaunchPlan {
  /** The wrapper reports on fd 3 ("ok") that it joined the cgroup, before the job's own code runs. */
  joinReport: boolean;
}

export interface JobTree {
  /** The argv to spawn so the process is in the tree before the job's own code runs. */
  wrap(plan: LaunchPlan): SpawnPlan;
  /** The main process was spawned detached: its pid is the group id. */
  spawned(pid: number): void;
  /** SIGTERM to the process group and every process in the tree. */
  terminate(): void;
  /** SIGKILL to all of it. */
  kill(): Promise<void>;
  /** True when it is known that no process is left (a process group cannot tell: false). */
  readonly empty: boolean;
  /** Kill what is left; for a cgroup also wait for it to be gone and remove it (once). */
  release(): Promise<void>;
  /** Shown in logs and system lines: "cgroup <dir>" or "process group <pgid>". */
  readonly where: string;
}

export interface Trees {
  readonly method: KillMethod;
  /** A tree for one run, before it is spawned. Throws CgroupError. */
  create(name: string): JobTree;
  /** Remove the agent's cgroup directory (after every tree is released). */
  close(): void;
}

/**
 * Picks the kill method. Throws ConfigError when a cgroup was asked for
 * explicitly and none is usable, naming why for each hierarchy.
 */
export function openTrees(choice: KillMethodChoice, log: Logger, own: OwnCgroups = readOwnCgroups()): Trees {
  if (choice === "process-group") return new GroupTrees();
  const candidates: [CgroupVersion, string | undefined][] = [];
  if (choice !== "cgroup-v1") candidates.push([2, own.v2]);
  if (choice !== "cgroup-v2") candidates.push([1, own.v1Freezer]);
  const why: string[] = [];
  for (const [version, parent] of candidates) {
    if (!parent) {
      why.push(`cgroup v${version}: ${version === 2 ? "no cgroup2 mount" : "no freezer hierarchy"}`);
      continue;
    }
    try {
      return new CgroupTrees(CgroupRoot.open(version, parent), log);
    } catch (err) {
      why.push(`cgroup v${version}: ${err instanceof CgroupError ? err.message : String(err)}`);
    }
  }
  if (choice !== "auto") throw new ConfigError("kill-method", `${choice} is not usable here: ${why.join("; ")}`);
  log.warn({ why }, "no writable cgroup: stopping jobs by process group, which a process that calls setsid escapes");
  return new GroupTrees();
}

export function signalGroup(pgid: number | undefined, signal: NodeJS.Signals): void {
  if (pgid !== undefined) signalQuiet(-pgid, signal);
}

class GroupTrees implements Trees {
  readonly method = "process-group";
  create(): JobTree {
    return new GroupTree();
  }
  close(): void {}
}

class GroupTree implements JobTree {
  readonly empty = false;
  private pgid?: number;

  get where(): string {
    return `process group ${this.pgid ?? "(not started)"}`;
  }
  wrap(plan: LaunchPlan): SpawnPlan {
    return { ...plan, joinReport: false };
  }
  spawned(pid: number): void {
    this.pgid = pid;
  }
  terminate(): void {
    signalGroup(this.pgid, "SIGTERM");
  }
  async kill(): Promise<void> {
    signalGroup(this.pgid, "SIGKILL");
  }
  // Nothing to remove; what is left of the group gets its SIGKILL (also when
  // the agent leaves before a pending one: timers die with the process).
  release(): Promise<void> {
    return this.kill();
  }
}

// The wrapper: the job's pid ($$, kept by exec) joins the cgroup, says so on
// fd 3, then becomes the job with fd 3 closed. Every value is a positional
// argument, never part of the script text, so nothing needs quoting.
const JOIN_SCRIPT = 'echo $$ > "$1" || exit 125; echo ok >&3; shift; exec "$@" 3>&-';

/** `plan` run through the join wrapper: in the cgroup of `procsFile` before the job's first instruction. */
export function joinCgroup(procsFile: string, plan: LaunchPlan): SpawnPlan {
  // sh's own "not found" would be exit 127 after RunStarted; resolving here keeps it a SPAWN_FAILED.
  const file = resolveExecutable(plan.file, plan.env.PATH ?? "", plan.cwd);
  return { ...plan, file: SHELL, args: ["-c", JOIN_SCRIPT, "hodei-job", procsFile, file, ...plan.args], joinReport: true };
}

class CgroupTrees implements Trees {
  readonly method: KillMethod;
  constructor(
    private readonly root: CgroupRoot,
    private readonly log: Logger,
  ) {
    this.method = root.version === 2 ? "cgroup-v2" : "cgroup-v1";
    log.info({ killMethod: this.method, cgroup: root.dir }, "jobs run in their own cgroups");
  }
  create(name: string): JobTree {
    return new CgroupTree(this.root.create(name), this.log);
  }
  close(): void {
    if (!this.root.close()) this.log.warn({ cgroup: this.root.dir }, "cannot remove the agent's cgroup: a run's cgroup still has processes");
  }
}

class CgroupTree implements JobTree {
  private pgid?: number;
  private released?: Promise<void>;

  constructor(
    private readonly cg: RunCgroup,
    private readonly log: Logger,
  ) {}

  get where(): string {
    return `cgroup ${this.cg.dir}`;
  }
  get empty(): boolean {
    return this.cg.pids().length === 0;
  }

  wrap(plan: LaunchPlan): SpawnPlan {
    return joinCgroup(this.cg.procsFile, plan);
  }
  spawned(pid: number): void {
    this.pgid = pid;
  }
  terminate(): void {
    signalGroup(this.pgid, "SIGTERM");
    this.cg.signal("SIGTERM");
  }
  async kill(): Promise<void> {
    signalGroup(this.pgid, "SIGKILL");
    await this.cg.killAll();
  }
  release(): Promise<void> {
    return (this.released ??= this.doRelease());
  }

  private async doRelease(): Promise<void> {
    try {
      if (!this.empty) await this.kill();
      if (!(await this.cg.waitEmpty(RELEASE_WAIT_MS))) {
        this.log.warn({ cgroup: this.cg.dir, pids: this.cg.pids() }, "processes survived SIGKILL; leaving their cgroup in place");
        return;
      }
      if (!this.cg.remove()) this.log.warn({ cgroup: this.cg.dir }, "cannot remove the run's cgroup");
    } catch (err) {
      this.log.warn({ err, cgroup: this.cg.dir }, "cannot release the run's cgroup");
    }
  }
}
