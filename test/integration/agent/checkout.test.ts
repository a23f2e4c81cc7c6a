/**
 * agent/checkout.ts against real git: repositories in temp dirs served over
 * file://, `git daemon` (git://) and smart HTTP (git http-backend behind a
 * small node server that demands an Authorization header and records it).
 */
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import { createServer as createNetServer, type AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { cacheDirFor, checkout, CheckoutError } from "../../../agent/checkout.js";

const git = (cwd: string, ...args: string[]): string =>
  execFileSync("git", args, { cwd, encoding: "utf8", env: { ...process.env, GIT_AUTHOR_NAME: "t", GIT_AUTHOR_EMAIL: "t@t", GIT_COMMITTER_NAME: "t", GIT_COMMITTER_EMAIL: "t@t" } }).trim();

let root: string;
let served: string; // the directory git daemon and http-backend export
let src: string; // served/src.git's working copy
let c1: string; // not the branch head
let c2: string; // main's head
const fileUrl = (): string => `file://${join(served, "src.git")}`;
let n = 0;
const ws = (): string => join(root, `ws-${++n}`);

/** Objects in a repository (loose and packed), from `git count-objects -v`. */
function objectCount(gitDir: string): number {
  const out = execFileSync("git", ["--git-dir", gitDir, "count-objects", "-v"], { encoding: "utf8" });
  const get = (k: string) => Number(/^(\S+): (\d+)$/m.exec(out.split("\n").find((l) => l.startsWith(`${k}:`)) ?? "")?.[2] ?? 0);
  return get("count") + get("in-pack");
}

async function freePort(): Promise<number> {
  const s = createNetServer();
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), "hodei-checkout-"));
  served = join(root, "served");
  src = join(root, "src");
  execFileSync("mkdir", ["-p", served, src]);
  git(src, "init", "-q", "-b", "main");
  writeFileSync(join(src, "a.txt"), "one\n");
  git(src, "add", "a.txt");
  git(src, "commit", "-qm", "one");
  c1 = git(src, "rev-parse", "HEAD");
  writeFileSync(join(src, "a.txt"), "two\n");
  writeFileSync(join(src, "b.txt"), "bee\n");
  git(src, "add", ".");
  git(src, "commit", "-qm", "two");
  c2 = git(src, "rev-parse", "HEAD");
  git(root, "clone", "-q", "--bare", src, join(served, "src.git"));
});

afterAll(() => rmSync(root, { recursive: true, force: true }));

describe("checkout over file://", () => {
  it("checks out a commit that is not the branch head, as a normal repository with HEAD at the commit", async () => {
    const cacheRoot = join(root, "cache-file");
    const dir = ws();
    const r = await checkout({ url: fileUrl(), commit: c1, ref: "refs/heads/main" }, dir, { cacheRoot });
    expect(r).toMatchObject({ fetched: true, via: "commit", cacheDir: cacheDirFor(cacheRoot, fileUrl()) });
    expect(readFileSync(join(dir, "a.txt"), "utf8")).toBe("one\n");
    expect(existsSync(join(dir, "b.txt"))).toBe(false);
    expect(git(dir, "rev-parse", "HEAD")).toBe(c1);
    expect(git(dir, "status", "--porcelain")).toBe("");
    expect(git(dir, "log", "--format=%H")).toBe(c1); // shallow, and git knows it
    expect(git(dir, "remote", "get-url", "origin")).toBe(fileUrl());
    // The job's script file is not a change of the checkout.
    execFileSync("mkdir", ["-p", join(dir, ".hodei")]);
    writeFileSync(join(dir, ".hodei", "script.sh"), "true\n");
    expect(git(dir, "status", "--porcelain")).toBe("");
  });

  it("a second checkout of the commit comes from the cache: nothing is fetched, the cache gains no object", async () => {
    const cacheRoot = join(root, "cache-again");
    const first = await checkout({ url: fileUrl(), commit: c1 }, ws(), { cacheRoot });
    expect(existsSync(join(first.cacheDir, "HEAD"))).toBe(true);
    const before = objectCount(first.cacheDir);
    expect(before).toBeGreaterThan(0);
    const dir = ws();
    const second = await checkout({ url: fileUrl(), commit: c1 }, dir, { cacheRoot });
    expect(second).toEqual({ cacheDir: first.cacheDir, fetched: false });
    expect(objectCount(first.cacheDir)).toBe(before);
    expect(git(dir, "rev-parse", "HEAD")).toBe(c1);
    // Another commit of the repo is fetched into the same cache entry.
    const third = await checkout({ url: fileUrl(), commit: c2 }, ws(), { cacheRoot });
    expect(third).toMatchObject({ cacheDir: first.cacheDir, fetched: true });
    expect(objectCount(first.cacheDir)).toBeGreaterThan(before);
  });

  it("two checkouts of one repo at once share the cache entry and both succeed (the entry's lock)", async () => {
    const cacheRoot = join(root, "cache-together");
    const [a, b] = [ws(), ws()];
    const rs = await Promise.all([checkout({ url: fileUrl(), commit: c2 }, a, { cacheRoot }), checkout({ url: fileUrl(), commit: c2 }, b, { cacheRoot })]);
    expect(rs.map((r) => r.fetched).sort()).toEqual([false, true]);
    expect([git(a, "rev-parse", "HEAD"), git(b, "rev-parse", "HEAD")]).toEqual([c2, c2]);
  });

  it("a commit the repository does not have: a clear error naming the commit and git's reason", async () => {
    const missing = "0123456789abcdef0123456789abcdef01234567";
    const err = await checkout({ url: fileUrl(), commit: missing, ref: "refs/heads/main" }, ws(), { cacheRoot: join(root, "cache-missing") }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CheckoutError);
    expect((err as Error).message).toContain(missing);
    expect((err as Error).message).toMatch(/not our ref|not in|unadvertised|couldn't find/i);
  });

  it("a repository that is not there: git's error, with the token scrubbed even where git echoes it", async () => {
    const token = "s3cr3t-t0k3n-in-the-url";
    const err = await checkout({ url: `file://${root}/no-such-${token}.git`, commit: c1, token }, ws(), { cacheRoot: join(root, "cache-none") }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CheckoutError);
    const msg = (err as Error).message;
    expect(msg).toContain("git fetch of commit");
    expect(msg).toContain("***");
    expect(msg).not.toContain(token);
  });

  it("refuses an abbreviated commit id before running git", async () => {
    await expect(checkout({ url: fileUrl(), commit: c1.slice(0, 12) }, ws(), { cacheRoot: join(root, "cache-short") })).rejects.toThrow(/40-hex/);
  });
});

describe("checkout over git daemon (git://)", () => {
  let daemon: ChildProcess;
  let port: number;
  const url = (): string => `git://127.0.0.1:${port}/src.git`;

  beforeAll(async () => {
    port = await freePort();
    daemon = spawn("git", ["daemon", "--reuseaddr", "--listen=127.0.0.1", `--port=${port}`, `--base-path=${served}`, "--export-all", served], { stdio: "ignore" });
    for (let i = 0; i < 200; i++) {
      try {
        execFileSync("git", ["ls-remote", url()], { stdio: "ignore" });
        return;
      } catch {
        await new Promise((r) => setTimeout(r, 50));
      }
    }
    throw new Error("git daemon did not start");
  });

  afterAll(() => {
    daemon?.kill();
  });

  it("fetches a non-head commit by its id (protocol v2 serves any reachable commit)", async () => {
    const dir = ws();
    const r = await checkout({ url: url(), commit: c1, ref: "refs/heads/main" }, dir, { cacheRoot: join(root, "cache-daemon") });
    expect(r).toMatchObject({ fetched: true, via: "commit" });
    expect(git(dir, "rev-parse", "HEAD")).toBe(c1);
    expect(readFileSync(join(dir, "a.txt"), "utf8")).toBe("one\n");
  });

  it("falls back to fetching the ref when the server refuses an unadvertised commit (protocol v0, no allowReachableSHA1InWant)", async () => {
    const dir = ws();
    const opts = { cacheRoot: join(root, "cache-v0"), gitConfig: { "protocol.version": "0" } };
    const r = await checkout({ url: url(), commit: c1, ref: "refs/heads/main" }, dir, opts);
    expect(r).toMatchObject({ fetched: true, via: "ref" });
    expect(git(dir, "rev-parse", "HEAD")).toBe(c1);
    expect(readFileSync(join(dir, "a.txt"), "utf8")).toBe("one\n");
    // Without a ref to fall back on, the refusal is the error.
    const err = await checkout({ url: url(), commit: c1 }, ws(), { ...opts, cacheRoot: join(root, "cache-v0-noref") }).catch((e: unknown) => e);
    expect((err as Error).message).toMatch(/unadvertised object/);
  });

  it("an unreachable server: a clear error", async () => {
    const closed = await freePort();
    const err = await checkout({ url: `git://127.0.0.1:${closed}/src.git`, commit: c1 }, ws(), { cacheRoot: join(root, "cache-down") }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CheckoutError);
    expect((err as Error).message).toMatch(/git fetch of commit .* from git:\/\/127\.0\.0\.1:\d+\/src\.git failed: .*(unable to connect|Connection refused)/s);
  });
});

describe("checkout over smart HTTP with a token", () => {
  const token = "ghp_checkoutTestToken123";
  const expected = `Basic ${Buffer.from(`x-access-token:${token}`).toString("base64")}`;
  let server: Server;
  let port: number;
  const seen: IncomingHttpHeaders[] = [];
  const url = (): string => `http://127.0.0.1:${port}/src.git`;

  beforeAll(async () => {
    // git http-backend as CGI behind a server that answers 401 without the right Authorization.
    server = createServer((req, res) => {
      seen.push(req.headers);
      if (req.headers.authorization !== expected) {
        res.writeHead(401, { "WWW-Authenticate": 'Basic realm="hodei-test"' }).end();
        return;
      }
      const u = new URL(req.url ?? "/", "http://x");
      const cgi = spawn("/usr/lib/git-core/git-http-backend", [], {
        env: {
          ...process.env,
          GIT_PROJECT_ROOT: served,
          GIT_HTTP_EXPORT_ALL: "1",
          PATH_INFO: u.pathname,
          QUERY_STRING: u.search.replace(/^\?/, ""),
          REQUEST_METHOD: req.method ?? "GET",
          CONTENT_TYPE: req.headers["content-type"] ?? "",
          HTTP_CONTENT_ENCODING: req.headers["content-encoding"] ?? "",
          GIT_PROTOCOL: String(req.headers["git-protocol"] ?? ""),
          REMOTE_USER: "x-access-token",
        },
      });
      req.pipe(cgi.stdin);
      let head = Buffer.alloc(0);
      let inBody = false;
      cgi.stdout.on("data", (d: Buffer) => {
        if (inBody) return void res.write(d);
        head = Buffer.concat([head, d]);
        const end = head.indexOf("\r\n\r\n");
        if (end === -1) return;
        inBody = true;
        let statusCode = 200;
        for (const line of head.subarray(0, end).toString().split("\r\n")) {
          const i = line.indexOf(":");
          const k = line.slice(0, i).trim();
          const v = line.slice(i + 1).trim();
          if (k.toLowerCase() === "status") statusCode = parseInt(v, 10);
          else res.setHeader(k, v);
        }
        res.statusCode = statusCode;
        res.write(head.subarray(end + 4));
      });
      cgi.stdout.on("end", () => res.end());
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    port = (server.address() as AddressInfo).port;
  });

  afterAll(async () => {
    await new Promise<void>((r) => server.close(() => r()));
  });

  it("sends the token as an Authorization header, not on git's command line nor into the workspace", async () => {
    const trace = join(root, "git-trace.log");
    process.env.GIT_TRACE = trace;
    const dir = ws();
    try {
      const r = await checkout({ url: url(), commit: c1, ref: "refs/heads/main", token }, dir, { cacheRoot: join(root, "cache-http") });
      expect(r.fetched).toBe(true);
    } finally {
      delete process.env.GIT_TRACE;
    }
    expect(git(dir, "rev-parse", "HEAD")).toBe(c1);
    expect(seen.some((h) => h.authorization === expected)).toBe(true);
    // GIT_TRACE logs every git's argv: the fetch is there, the token in no form.
    const traced = readFileSync(trace, "utf8");
    expect(traced).toContain("fetch");
    expect(traced).not.toContain(token);
    expect(traced).not.toContain(expected.slice("Basic ".length));
    expect(readFileSync(join(dir, ".git", "config"), "utf8")).not.toContain(token);
    expect(git(dir, "remote", "get-url", "origin")).toBe(url());
  });

  it("without the token, or with a wrong one, the server refuses: a clear error that holds no token", async () => {
    const none = await checkout({ url: url(), commit: c2 }, ws(), { cacheRoot: join(root, "cache-http-none") }).catch((e: unknown) => e);
    expect(none).toBeInstanceOf(CheckoutError);
    expect((none as Error).message).toMatch(/git fetch of commit .* failed: .*(Authentication failed|could not read Username|401)/s);
    const wrong = "ghp_wrongWrongWrong";
    const bad = await checkout({ url: url(), commit: c2, token: wrong }, ws(), { cacheRoot: join(root, "cache-http-wrong") }).catch((e: unknown) => e);
    expect(bad).toBeInstanceOf(CheckoutError);
    expect((bad as Error).message).not.toContain(wrong);
    expect((bad as Error).message).not.toContain(Buffer.from(`x-access-token:${wrong}`).toString("base64"));
  });
});

describe("a server that accepts and never answers", () => {
  let hole: ReturnType<typeof createNetServer>;
  let port: number;
  let connected: () => void;
  const sockets: import("node:net").Socket[] = [];

  beforeAll(async () => {
    hole = createNetServer((s) => {
      sockets.push(s);
      connected?.();
    });
    await new Promise<void>((r) => hole.listen(0, "127.0.0.1", r));
    port = (hole.address() as AddressInfo).port;
  });

  afterAll(async () => {
    for (const s of sockets) s.destroy();
    await new Promise<void>((r) => hole.close(() => r()));
  });

  it("git is killed at the timeout: a clear error, not a hang", async () => {
    const err = await checkout({ url: `git://127.0.0.1:${port}/src.git`, commit: c1 }, ws(), { cacheRoot: join(root, "cache-hole"), timeoutMs: 1_000 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CheckoutError);
    expect((err as Error).message).toMatch(/git fetch timed out after 1000 ms/);
  });

  it("a cancel stops git at once (the abort signal), whatever the timeout", async () => {
    const ac = new AbortController();
    const seen = new Promise<void>((r) => (connected = r));
    const p = checkout({ url: `git://127.0.0.1:${port}/src.git`, commit: c1 }, ws(), { cacheRoot: join(root, "cache-hole-2"), signal: ac.signal });
    await seen; // git is connected and waiting for the server
    ac.abort();
    await expect(p).rejects.toThrow(/checkout stopped: the run was cancelled/);
  });
});
