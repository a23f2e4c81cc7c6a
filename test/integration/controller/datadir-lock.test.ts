import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync, existsSync } from "node:fs";
import { hostname, tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { acquireDataDirLock, lockPathFor, LockLostError, type LockInfo } from "../../../controller/datadir-lock.js";

const FIXTURE = new URL("./fixtures/lock-child.ts", import.meta.url).pathname;

interface Reply {
  ready?: boolean;
  held?: boolean;
  pid?: number;
  address?: string;
  reason?: string;
  ok?: boolean;
  error?: string;
}

/** A real process running fixtures/lock-child.ts, driven over stdin. */
class Child {
  readonly proc: ChildProcess;
  readonly exited: Promise<number | null>;
  #replies: Reply[] = [];
  #waiters: ((r: Reply) => void)[] = [];

  constructor(dataDir: string) {
    this.proc = spawn(process.execPath, ["--import", "tsx", FIXTURE, dataDir], { stdio: ["pipe", "pipe", "inherit"] });
    this.exited = once(this.proc, "exit").then(([code]) => code as number | null);
    createInterface({ input: this.proc.stdout! }).on("line", (line) => {
      const reply = JSON.parse(line) as Reply;
      const waiter = this.#waiters.shift();
      if (waiter) waiter(reply);
      else this.#replies.push(reply);
    });
  }

  get pid(): number {
    return this.proc.pid!;
  }

  next(): Promise<Reply> {
    const queued = this.#replies.shift();
    return queued ? Promise.resolve(queued) : new Promise((r) => this.#waiters.push(r));
  }

  async send(command: string): Promise<Reply> {
    this.proc.stdin!.write(command + "\n");
    const reply = await this.next();
    if (reply.error) throw new Error(`child ${this.pid}: ${reply.error}`);
    return reply;
  }

  static async start(dataDir: string): Promise<Child> {
    const child = new Child(dataDir);
    expect(await child.next()).toEqual({ ready: true });
    return child;
  }
}

/** A pid that existed a moment ago and is gone (reaped) now. */
async function deadPid(): Promise<number> {
  const p = spawn(process.execPath, ["-e", ""], { stdio: "ignore" });
  await once(p, "exit");
  return p.pid!;
}

function writeLock(dataDir: string, info: LockInfo): void {
  mkdirSync(join(dataDir, ".."), { recursive: true });
  writeFileSync(lockPathFor(dataDir), JSON.stringify(info));
}

function readLockFile(dataDir: string): LockInfo {
  return JSON.parse(readFileSync(lockPathFor(dataDir), "utf8")) as LockInfo;
}

let root: string;
const children: Child[] = [];

beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), "hodei-lock-"));
});
afterEach(async () => {
  for (const c of children.splice(0)) {
    if (c.proc.exitCode === null && c.proc.signalCode === null) c.proc.kill("SIGKILL");
    await c.exited;
  }
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

async function startChildren(dataDir: string, n: number): Promise<Child[]> {
  const started = await Promise.all(Array.from({ length: n }, () => Child.start(dataDir)));
  children.push(...started);
  return started;
}

describe("data-dir lock across processes", () => {
  it("lets exactly one of several racing processes win, shows the winner's address to the others, and frees on release", async () => {
    const dataDir = join(root, "race", "data"); // parent does not exist yet
    const racers = await startChildren(dataDir, 4);
    const results = await Promise.all(racers.map((c) => c.send("acquire")));
    const winners = racers.filter((_, i) => results[i]?.held);
    expect(winners).toHaveLength(1);
    const winner = winners[0]!;
    for (const r of results.filter((x) => !x.held)) {
      expect(r.pid).toBe(winner.pid);
      expect(r.reason).toMatch(/another controller/);
    }
    expect(lockPathFor(dataDir)).toBe(`${dataDir}.lock`);
    expect(readLockFile(dataDir)).toMatchObject({ pid: winner.pid, hostname: hostname() });

    await winner.send("address 127.0.0.1:7777");
    const loser = racers.find((c) => c !== winner)!;
    expect(await loser.send("acquire")).toMatchObject({ held: false, pid: winner.pid, address: "127.0.0.1:7777" });
    expect(readLockFile(dataDir)).toMatchObject({ pid: winner.pid, address: "127.0.0.1:7777" });

    await winner.send("release");
    expect(existsSync(lockPathFor(dataDir))).toBe(false);
    expect(await loser.send("acquire")).toMatchObject({ held: true, pid: loser.pid });
  });

  it("lets exactly one of several processes take over a stale lock, round after round", async () => {
    const dataDir = join(root, "stale", "data");
    const racers = await startChildren(dataDir, 4);
    for (let round = 0; round < 8; round++) {
      writeLock(dataDir, { pid: await deadPid(), startedAt: new Date().toISOString(), hostname: hostname() });
      const results = await Promise.all(racers.map((c) => c.send("acquire")));
      const winners = racers.filter((_, i) => results[i]?.held);
      expect(winners, `round ${round}`).toHaveLength(1);
      const winner = winners[0]!;
      expect(results.filter((r) => !r.held).every((r) => r.pid === winner.pid)).toBe(true);
      expect(readLockFile(dataDir).pid).toBe(winner.pid);
      await winner.send("release");
    }
    // Takeover markers and temp files do not pile up.
    expect(readdirSync(join(root, "stale"))).toEqual([]);
  });

  it("removes the lock on a normal exit and takes over the lock of a killed process", async () => {
    const dataDir = join(root, "exit", "data");
    const [a, b] = await startChildren(dataDir, 2);
    expect(await a!.send("acquire")).toMatchObject({ held: true });
    a!.proc.stdin!.write("exit 0\n");
    expect(await a!.exited).toBe(0);
    expect(existsSync(lockPathFor(dataDir))).toBe(false);

    expect(await b!.send("acquire")).toMatchObject({ held: true });
    b!.proc.kill("SIGKILL");
    await b!.exited;
    expect(readLockFile(dataDir).pid).toBe(b!.pid); // a signal skips the exit hook

    const [c] = await startChildren(dataDir, 1);
    expect(await c!.send("acquire")).toMatchObject({ held: true, pid: c!.pid });
  });
});

describe("data-dir lock in one process", () => {
  it("refuses a second acquire of a lock this process holds, and release only removes our own file", async () => {
    const dataDir = join(root, "self", "data");
    const first = await acquireDataDirLock(dataDir);
    if (!first.held) throw new Error(first.reason);
    const again = await acquireDataDirLock(dataDir);
    expect(again).toMatchObject({ held: false, pid: process.pid, reason: expect.stringMatching(/this process already holds/) });

    // Someone replaced the file (an operator deleted it and another controller started): not ours to remove.
    const other: LockInfo = { pid: 1, startedAt: new Date().toISOString(), hostname: "elsewhere" };
    writeLock(dataDir, other);
    await expect(first.lock.setAddress("x:1")).rejects.toThrow(LockLostError);
    await first.lock.release();
    expect(readLockFile(dataDir)).toEqual(other);
    await expect(first.lock.setAddress("x:1")).rejects.toThrow(/released/);
  });

  it("does not judge a lock from another host, and says what to do", async () => {
    const dataDir = join(root, "host", "data");
    writeLock(dataDir, { pid: 4242, startedAt: new Date().toISOString(), hostname: "some-other-host", address: "10.0.0.9:7000" });
    const r = await acquireDataDirLock(dataDir);
    expect(r).toMatchObject({ held: false, pid: 4242, address: "10.0.0.9:7000" });
    if (!r.held) expect(r.reason).toMatch(/some-other-host.*delete the file/);
  });

  it("takes over a lock left with its own pid by an earlier process (a container restarted as pid 1)", async () => {
    const dataDir = join(root, "ownpid", "data");
    writeLock(dataDir, { pid: process.pid, startedAt: "2020-01-01T00:00:00.000Z", hostname: hostname() });
    const r = await acquireDataDirLock(dataDir);
    expect(r.held).toBe(true);
    if (r.held) await r.lock.release();
  });

  it("takes over a lock whose pid now belongs to a process that started after it (reused pid)", async () => {
    const dataDir = join(root, "reused", "data");
    // process.ppid (the vitest runner) is alive but started long after 2001.
    writeLock(dataDir, { pid: process.ppid, startedAt: "2001-01-01T00:00:00.000Z", hostname: hostname() });
    const r = await acquireDataDirLock(dataDir);
    expect(r.held).toBe(true);
    if (r.held) await r.lock.release();
  });

  it("treats an unreadable lock file as stale", async () => {
    const dataDir = join(root, "garbage", "data");
    mkdirSync(join(root, "garbage"));
    writeFileSync(lockPathFor(dataDir), "not json");
    const r = await acquireDataDirLock(dataDir);
    expect(r.held).toBe(true);
    if (r.held) await r.lock.release();
  });
});
