/**
 * `hodei agent --run-as USER`: jobs run as a separate, unprivileged user, so
 * a job cannot read the agent's files (its credential, the spool of other
 * runs' logs) or its process (/proc/<agent pid>/environ, /proc/<pid>/mem).
 *
 * The agent runs as root. Each job starts as root only long enough to join its
 * cgroup (tree.ts), then `setpriv` (util-linux) drops to the user's uid and gid
 * with no supplementary groups before the job's first instruction; dropping
 * every uid to non-zero also clears every capability. The attempt's workspace
 * and its secrets are given to the user just before it starts.
 */
import { execFileSync } from "node:child_process";
import { chown, lchown, readdir, stat } from "node:fs/promises";
import { dirname, join } from "node:path";
import { ConfigError } from "./errors.js";

export interface RunAsUser {
  name: string;
  uid: number;
  gid: number;
  home: string;
}

const SETPRIV = "/usr/bin/setpriv";

/** The passwd entry of `user` (a name or a uid), checked usable; throws ConfigError. */
export function resolveRunAs(user: string): RunAsUser {
  if (!/^[A-Za-z0-9._-]{1,64}$/.test(user)) throw new ConfigError("run-as", `"${user.slice(0, 80)}" is not a user name or uid`);
  if (process.getuid?.() !== 0) throw new ConfigError("run-as", "needs the agent to run as root (it starts each job as root to place it in its cgroup, then drops to the user)");
  let entry: string;
  try {
    entry = execFileSync("getent", ["passwd", user], { encoding: "utf8" }).trim().split("\n")[0] ?? "";
  } catch {
    throw new ConfigError("run-as", `no user "${user}" on this machine (getent passwd ${user} found none); create one, e.g. useradd --system --create-home hodei-job`);
  }
  const [name, , uid, gid, , home] = entry.split(":");
  const u = Number(uid);
  const g = Number(gid);
  if (!name || !Number.isInteger(u) || !Number.isInteger(g)) throw new ConfigError("run-as", `cannot read the passwd entry of "${user}"`);
  if (u === 0) throw new ConfigError("run-as", `"${user}" is root; --run-as needs an unprivileged user`);
  try {
    execFileSync(SETPRIV, ["--version"], { stdio: "ignore" });
  } catch {
    throw new ConfigError("run-as", `needs ${SETPRIV} (util-linux) to drop privileges`);
  }
  return { name, uid: u, gid: g, home: home || "/" };
}

interface Plan {
  file: string;
  args: string[];
  env: Record<string, string>;
}

/**
 * `plan` started through setpriv, as `user`, with the user's HOME, USER and
 * LOGNAME. `file` is plan.file resolved on PATH by the caller, as the agent:
 * setpriv's own "not found" would come after RunStarted.
 */
export function asUser<P extends Plan>(plan: P, user: RunAsUser, file: string): P {
  return {
    ...plan,
    file: SETPRIV,
    args: [`--reuid=${user.uid}`, `--regid=${user.gid}`, "--clear-groups", "--", file, ...plan.args],
    env: { ...plan.env, HOME: user.home, USER: user.name, LOGNAME: user.name },
  };
}

/** Gives `dir` and everything under it to the user (symbolic links themselves, never their targets). */
export async function giveTree(dir: string, user: RunAsUser): Promise<void> {
  await chown(dir, user.uid, user.gid);
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) await giveTree(p, user);
    else await lchown(p, user.uid, user.gid);
  }
}

/**
 * Throws ConfigError when the user could not reach `workDir` (its workspaces
 * are below it): every directory above it must let others search it (o+x),
 * or belong to the user's group with g+x.
 */
export async function checkReachable(workDir: string, user: RunAsUser): Promise<void> {
  for (let dir = dirname(workDir); ; dir = dirname(dir)) {
    const st = await stat(dir);
    const ok = st.uid === user.uid ? (st.mode & 0o100) !== 0 : st.gid === user.gid ? (st.mode & 0o010) !== 0 : (st.mode & 0o001) !== 0;
    if (!ok) throw new ConfigError("run-as", `user ${user.name} cannot reach the work dir ${workDir}: ${dir} does not let others through (chmod o+x ${dir}, or choose another --work-dir)`);
    if (dir === dirname(dir)) return;
  }
}
