/**
 * The embedded controller's lock on its PGlite data directory.
 *
 * PGlite does not stop two processes from opening one data dir, and loses
 * writes when they do, so the process that opens it holds `<dataDir>.lock`: a
 * sibling of the directory, never inside it (PGlite owns that tree and a
 * stray file there could be read as part of the cluster). The file holds
 * JSON `{ pid, startedAt, hostname, address? }`; `address` is the gRPC
 * address of the controller, set once it listens, so a second `hodei run` can
 * use that controller instead of failing.
 *
 * Creation is atomic with its content: the JSON is written to a temp file and
 * hard-linked to the lock path (link fails with EEXIST like open 'wx', but a
 * reader never sees an empty or half-written lock). A lock whose pid is dead
 * on this host is stale and taken over; see removeStale for the race.
 */
import { createHash, randomBytes } from "node:crypto";
import { promises as fs, readFileSync, unlinkSync } from "node:fs";
import { hostname } from "node:os";
import { basename, dirname, join, resolve } from "node:path";

export interface LockInfo {
  pid: number;
  /** ISO time the lock was taken. */
  startedAt: string;
  hostname: string;
  /** host:port of the controller holding it, once it listens. */
  address?: string;
}

export type LockResult =
  | { held: true; lock: DataDirLock }
  | { held: false; pid: number; address?: string; reason: string };

/** setAddress found the lock file gone or owned by someone else. */
export class LockLostError extends Error {
  override readonly name = "LockLostError";
  constructor(readonly path: string, message: string) {
    super(`lost the data-dir lock ${path}: ${message}`);
  }
}

/** The lock kept changing hands while we tried to take it (many processes starting at once). */
export class LockContendedError extends Error {
  override readonly name = "LockContendedError";
  constructor(readonly path: string) {
    super(`could not take the data-dir lock ${path}: it kept changing hands; try again`);
  }
}

// Each round either creates the lock, reports its live holder, or removes a
// stale one; more rounds than this means something keeps recreating it.
const MAX_ROUNDS = 50;

// Kept on globalThis so that two copies of this module in one process (src
// and dist, or a test runner's per-file module graphs) share them: a copy that
// did not know our own lock would judge it stale by its pid and take it over.
interface Registry {
  /** Locks this process holds, by path; released on exit. */
  held: Map<string, DataDirLock>;
  /** Paths an acquire in this process is working on, so two calls cannot both win. */
  acquiring: Set<string>;
  exitHook: boolean;
}
const registryKey = Symbol.for("hodei.dataDirLocks");
const registry: Registry = ((globalThis as Record<symbol, Registry | undefined>)[registryKey] ??= {
  held: new Map(),
  acquiring: new Set(),
  exitHook: false,
});
const { held, acquiring } = registry;

/** Where the lock for a data dir lives: next to it, named after it. */
export function lockPathFor(dataDir: string): string {
  return `${resolve(dataDir)}.lock`;
}

export async function acquireDataDirLock(dataDir: string): Promise<LockResult> {
  const path = lockPathFor(dataDir);
  const mine = held.get(path);
  if (mine || acquiring.has(path)) {
    const address = mine?.address;
    return { held: false, pid: process.pid, ...(address ? { address } : {}), reason: `this process already holds ${path}` };
  }
  acquiring.add(path);
  try {
    await fs.mkdir(dirname(path), { recursive: true });
    for (let round = 0; round < MAX_ROUNDS; round++) {
      const info: LockInfo = { pid: process.pid, startedAt: new Date().toISOString(), hostname: hostname() };
      if (await createExclusive(path, info)) {
        const lock = new DataDirLock(path, info);
        held.set(path, lock);
        installExitHook();
        await removeLeftovers(path);
        return { held: true, lock };
      }
      const current = await readLock(path);
      if (current === undefined) continue; // released between our link and read: try again
      const verdict = judge(path, current.info);
      if (verdict.live && current.info) {
        const { pid, address } = current.info;
        return { held: false, pid, ...(address ? { address } : {}), reason: verdict.reason };
      }
      if (!(await removeStale(path, current.raw))) await sleep(10 + Math.random() * 20);
    }
    throw new LockContendedError(path);
  } finally {
    acquiring.delete(path);
  }
}

export class DataDirLock {
  #info: LockInfo;
  #released = false;

  constructor(readonly path: string, info: LockInfo) {
    this.#info = info;
  }

  get info(): Readonly<LockInfo> {
    return this.#info;
  }

  get address(): string | undefined {
    return this.#info.address;
  }

  /** Publishes the controller's address; atomic (temp + rename) so readers see old or new, never half. */
  async setAddress(address: string): Promise<void> {
    if (this.#released) throw new LockLostError(this.path, "it was released");
    const current = await readLock(this.path);
    if (!current?.info || !sameOwner(current.info, this.#info)) {
      throw new LockLostError(this.path, current?.info ? `now held by pid ${current.info.pid}` : "the file is gone");
    }
    const next: LockInfo = { ...this.#info, address };
    const tmp = tempPath(this.path);
    await writeDurable(tmp, next);
    await fs.rename(tmp, this.path);
    this.#info = next;
  }

  /** Removes the lock file if it is still ours; idempotent. */
  async release(): Promise<void> {
    this.releaseSync();
  }

  /** Synchronous so the exit hook can call it: nothing async runs in 'exit'. */
  releaseSync(): void {
    if (this.#released) return;
    this.#released = true;
    held.delete(this.path);
    try {
      const info = parse(readFileSync(this.path, "utf8"));
      if (info && sameOwner(info, this.#info)) unlinkSync(this.path);
    } catch (err) {
      if (!isCode(err, "ENOENT")) throw err;
    }
  }
}

type Verdict = { live: true; reason: string } | { live: false };

function judge(path: string, info: LockInfo | undefined): Verdict {
  if (!info) return { live: false }; // unreadable: our files are never partial, so it is not ours
  if (info.hostname !== hostname()) {
    return {
      live: true,
      reason: `${path} is held by pid ${info.pid} on host ${info.hostname}; this host cannot tell whether it still runs. If no controller runs there, delete the file.`,
    };
  }
  // Our own pid but not in `held`: left by an earlier process that had our pid
  // (a container restarted as pid 1, say).
  if (info.pid === process.pid) return { live: false };
  if (!isAlive(info.pid)) return { live: false };
  // The pid lives, but that process started after the lock was taken: reused pid.
  if (startedAfter(info.pid, info.startedAt)) return { live: false };
  return {
    live: true,
    reason: info.address
      ? `another controller (pid ${info.pid}) uses this data dir and listens on ${info.address}`
      : `another controller (pid ${info.pid}) is using this data dir (it has not published its address yet)`,
  };
}

/**
 * Deletes the stale lock whose content is `raw`, unless someone beat us to
 * it. Several processes may find the same stale lock; a plain unlink could
 * then delete the lock a faster one has just created. So only the holder of a
 * takeover marker named after that exact content may delete it, and only
 * after re-reading that the lock still has that content. While the content
 * is unchanged nothing else can replace the file (create needs it absent),
 * so check-then-unlink is safe. A marker whose holder died is skipped by
 * moving to the next generation. Returns false when another process is doing
 * the takeover (the caller waits and looks again).
 */
async function removeStale(path: string, raw: string): Promise<boolean> {
  const id = createHash("sha256").update(raw).digest("hex").slice(0, 16);
  const me: LockInfo = { pid: process.pid, startedAt: new Date().toISOString(), hostname: hostname() };
  for (let gen = 0; gen < 8; gen++) {
    const marker = `${path}.takeover-${id}-${gen}`;
    if (!(await createExclusive(marker, me))) {
      const holder = await readLock(marker);
      if (holder === undefined) return true; // finished meanwhile; look again
      if (holder.info && judge(marker, holder.info).live) return false;
      continue; // its holder died mid-takeover
    }
    try {
      const now = await readRaw(path);
      if (now === raw) await unlinkIfExists(path);
    } finally {
      await unlinkIfExists(marker);
    }
    return true;
  }
  return false;
}

/** Writes `info` to a temp file and links it to `path`; false if `path` exists. */
async function createExclusive(path: string, info: LockInfo): Promise<boolean> {
  const tmp = tempPath(path);
  await writeDurable(tmp, info);
  try {
    await fs.link(tmp, path);
    return true;
  } catch (err) {
    if (isCode(err, "EEXIST")) return false;
    throw err;
  } finally {
    await unlinkIfExists(tmp);
  }
}

async function writeDurable(path: string, info: LockInfo): Promise<void> {
  const fh = await fs.open(path, "wx", 0o644);
  try {
    await fh.writeFile(JSON.stringify(info) + "\n");
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** Once we hold the lock, markers and temp files of earlier, dead attempts are litter. */
async function removeLeftovers(path: string): Promise<void> {
  const dir = dirname(path);
  const base = basename(path);
  for (const name of await fs.readdir(dir)) {
    if (!name.startsWith(`${base}.`)) continue;
    const rest = name.slice(base.length + 1);
    // A marker names a lock content that is gone now that ours is in place, so
    // even a live marker holder will find nothing to delete. A temp file is
    // litter only when its writer is dead: a live one is about to link it.
    const tmpPid = /\.(\d+)\.[0-9a-f]+\.tmp$/.exec(rest)?.[1];
    const litter = tmpPid !== undefined ? !isAlive(Number(tmpPid)) : /^takeover-[0-9a-f]{16}-\d+$/.test(rest);
    if (litter) await unlinkIfExists(join(dir, name));
  }
}

async function readLock(path: string): Promise<{ raw: string; info: LockInfo | undefined } | undefined> {
  const raw = await readRaw(path);
  return raw === undefined ? undefined : { raw, info: parse(raw) };
}

async function readRaw(path: string): Promise<string | undefined> {
  try {
    return await fs.readFile(path, "utf8");
  } catch (err) {
    if (isCode(err, "ENOENT")) return undefined;
    throw err;
  }
}

function parse(raw: string): LockInfo | undefined {
  try {
    const v: unknown = JSON.parse(raw);
    if (typeof v !== "object" || v === null) return undefined;
    const o = v as Record<string, unknown>;
    if (typeof o.pid !== "number" || typeof o.startedAt !== "string" || typeof o.hostname !== "string") return undefined;
    return {
      pid: o.pid,
      startedAt: o.startedAt,
      hostname: o.hostname,
      ...(typeof o.address === "string" ? { address: o.address } : {}),
    };
  } catch {
    return undefined;
  }
}

function sameOwner(a: LockInfo, b: LockInfo): boolean {
  return a.pid === b.pid && a.startedAt === b.startedAt && a.hostname === b.hostname;
}

function tempPath(path: string): string {
  return `${path}.${process.pid}.${randomBytes(6).toString("hex")}.tmp`;
}

async function unlinkIfExists(path: string): Promise<void> {
  try {
    await fs.unlink(path);
  } catch (err) {
    if (!isCode(err, "ENOENT")) throw err;
  }
}

function isCode(err: unknown, code: string): boolean {
  return typeof err === "object" && err !== null && (err as NodeJS.ErrnoException).code === code;
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** kill(pid, 0) tells whether a pid exists (EPERM: it does, as another user's); a zombie counts as dead. */
function isAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false; // 0 and negatives address process groups
  try {
    process.kill(pid, 0);
  } catch (err) {
    if (isCode(err, "ESRCH")) return false;
    if (!isCode(err, "EPERM")) throw err;
  }
  return procStat(pid)?.state !== "Z";
}

// Linux reports a process's start in clock ticks since boot; USER_HZ is 100
// on every Linux ABI Node supports. btime is whole seconds and can drift with
// clock adjustments, hence the tolerance.
const TICK_MS = 10;
const START_TOLERANCE_MS = 5_000;

/** True if the process now holding `pid` started after `iso` (so the pid was reused). Linux only; false elsewhere. */
function startedAfter(pid: number, iso: string): boolean {
  const stat = procStat(pid);
  const boot = bootTimeMs();
  const lockedAt = Date.parse(iso);
  if (!stat || boot === undefined || Number.isNaN(lockedAt)) return false;
  return boot + stat.startTicks * TICK_MS > lockedAt + START_TOLERANCE_MS;
}

function procStat(pid: number): { state: string; startTicks: number } | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, "utf8");
    // Fields after the command name, which is in parentheses and may hold spaces: state is field 3, starttime 22.
    const fields = text.slice(text.lastIndexOf(")") + 2).split(" ");
    const state = fields[0];
    const startTicks = Number(fields[19]);
    return state && Number.isFinite(startTicks) ? { state, startTicks } : undefined;
  } catch {
    return undefined;
  }
}

let bootMs: number | undefined | null = null;
function bootTimeMs(): number | undefined {
  if (bootMs === null) {
    try {
      const m = /^btime (\d+)$/m.exec(readFileSync("/proc/stat", "utf8"));
      bootMs = m?.[1] ? Number(m[1]) * 1000 : undefined;
    } catch {
      bootMs = undefined;
    }
  }
  return bootMs;
}

function installExitHook(): void {
  if (registry.exitHook) return;
  registry.exitHook = true;
  // 'exit' runs on normal exit and process.exit(); a signal kills the process
  // without it unless the caller handles the signal — the stale check covers that.
  process.on("exit", () => {
    for (const lock of [...held.values()]) {
      try {
        lock.releaseSync();
      } catch {
        // Must not throw while exiting; a left-behind file is judged stale next time.
      }
    }
  });
}
