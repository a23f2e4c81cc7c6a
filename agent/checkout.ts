// Checks a repository out into a run's workspace at the run's commit (a run
// started by a push: ExecSpec.checkout).
//
// Per agent, one bare cache repository per URL under <workDir>/git-cache/
// (named by a hash of the URL). A checkout takes the cache entry's lock (one
// git at a time per entry: two runs of one repo never write its shallow file
// or refs together), fetches the commit into it unless it is already there
// (`git fetch --depth=1 URL COMMIT`, pinned by refs/hodei/commits/COMMIT so no
// gc takes it), then materialises the workspace as its own repository that
// borrows the cache's objects (objects/info/alternates, as `git clone
// --shared`) with HEAD detached at the commit. The job sees a normal checkout:
// a `.git` directory of its own, `git rev-parse HEAD` = the commit, `origin`
// = the URL; what it writes (commits, fetches, gc) stays in its workspace and
// cannot damage the cache. The cache only ever gains objects (gc.auto=0 and
// every fetched commit pinned), so the alternates stay valid.
//
// Credentials: the token reaches git only as an http.extraHeader through
// GIT_CONFIG_COUNT/KEY/VALUE in git's environment (never argv, where `ps`
// shows it; never in the workspace's config), and every error text is
// scrubbed of it (raw and in its header form) before it leaves this module.
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { copyFile, mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { AgentError } from "./errors.js";

/** A fetch longer than this is stuck (a black-holed server); git is killed. */
export const DEFAULT_CHECKOUT_TIMEOUT_MS = 10 * 60_000;

/** The checkout failed; the run ends with reason `checkout` and this message (already scrubbed) in its log. */
export class CheckoutError extends AgentError {}

export interface CheckoutSource {
  url: string;
  commit: string;
  /** Fetched instead when the server refuses an unadvertised commit by its id. */
  ref?: string;
  /** A credential: an HTTP Authorization header, never logged. */
  token?: string;
}

export interface CheckoutOptions {
  /** The agent's cache root: <workDir>/git-cache. */
  cacheRoot: string;
  /** Per git command; default 10 min. */
  timeoutMs?: number;
  /** Stops git at once (the run was cancelled while checking out). */
  signal?: AbortSignal;
  /** Extra git config for every git command (tests: protocol.version=0). */
  gitConfig?: Record<string, string>;
}

export interface CheckoutResult {
  /** The bare cache repository used. */
  cacheDir: string;
  /** False: the commit was in the cache already and nothing was fetched. */
  fetched: boolean;
  /** Which fetch brought the commit: by its id, or the ref (server refused the id). */
  via?: "commit" | "ref";
}

/** `<cacheRoot>/<sha256(url)[:24]>.git`: one bare repository per URL. */
export function cacheDirFor(cacheRoot: string, url: string): string {
  return join(cacheRoot, `${createHash("sha256").update(url).digest("hex").slice(0, 24)}.git`);
}

const tokenHeader = (token: string): string => `Authorization: Basic ${Buffer.from(`x-access-token:${token}`).toString("base64")}`;

/** `text` with every trace of the token (raw, base64'd user:token, the header) replaced by ***. */
export function scrubToken(text: string, token?: string): string {
  if (!token) return text;
  const b64 = Buffer.from(`x-access-token:${token}`).toString("base64");
  return text.split(token).join("***").split(b64).join("***");
}

/** A URL fit for a log line: user info (https://user:pass@host) removed. */
export function redactUrl(url: string): string {
  return url.replace(/^([a-z][a-z0-9+.-]*:\/\/)[^@/]*@/i, "$1");
}

/** One lock per cache entry, in this process: checkouts of one repo queue, of different repos run together. */
const locks = new Map<string, Promise<unknown>>();

async function withLock<T>(key: string, fn: () => Promise<T>): Promise<T> {
  const prev = locks.get(key) ?? Promise.resolve();
  const run = prev.then(fn, fn);
  const tail = run.catch(() => undefined);
  locks.set(key, tail);
  try {
    return await run;
  } finally {
    if (locks.get(key) === tail) locks.delete(key);
  }
}

interface GitRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

class Git {
  constructor(
    private readonly token: string | undefined,
    private readonly opts: CheckoutOptions,
  ) {}

  private env(): NodeJS.ProcessEnv {
    const config: [string, string][] = Object.entries(this.opts.gitConfig ?? {});
    if (this.token) config.push(["http.extraHeader", tokenHeader(this.token)]);
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      GIT_TERMINAL_PROMPT: "0",
      GIT_SSH_COMMAND: process.env.GIT_SSH_COMMAND ?? "ssh -o BatchMode=yes -o StrictHostKeyChecking=accept-new",
      LC_ALL: "C",
      GIT_CONFIG_COUNT: String(config.length),
    };
    config.forEach(([k, v], i) => {
      env[`GIT_CONFIG_KEY_${i}`] = k;
      env[`GIT_CONFIG_VALUE_${i}`] = v;
    });
    return env;
  }

  /** Runs git; resolves with its exit code and output (never rejects for a non-zero exit). */
  run(args: string[], cwd?: string): Promise<GitRun> {
    const timeoutMs = this.opts.timeoutMs ?? DEFAULT_CHECKOUT_TIMEOUT_MS;
    return new Promise((resolve, reject) => {
      const child = spawn("git", args, { cwd, env: this.env(), stdio: ["ignore", "pipe", "pipe"], signal: this.opts.signal });
      let stdout = "";
      let stderr = "";
      let timedOut = false;
      child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
      child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
      const timer = setTimeout(() => {
        timedOut = true;
        child.kill("SIGKILL");
      }, timeoutMs);
      child.once("error", (err) => {
        clearTimeout(timer);
        if ((err as NodeJS.ErrnoException).name === "AbortError") reject(new CheckoutError("checkout stopped: the run was cancelled"));
        else reject(new CheckoutError(`cannot run git: ${err.message}`, { cause: err }));
      });
      child.once("close", (code) => {
        clearTimeout(timer);
        // The subcommand for people: the first word that is neither an option nor --git-dir's or -C's value.
        const verb = args.find((a, i) => !a.startsWith("-") && args[i - 1] !== "--git-dir" && args[i - 1] !== "-C") ?? "";
        if (timedOut) reject(new CheckoutError(`git ${verb} timed out after ${timeoutMs} ms`));
        else resolve({ code, stdout, stderr });
      });
    });
  }

  /** Runs git; a non-zero exit throws a CheckoutError with git's (scrubbed) error text. */
  async ok(what: string, args: string[], cwd?: string): Promise<string> {
    const r = await this.run(args, cwd);
    if (r.code !== 0) throw new CheckoutError(`${what}: ${this.tail(r.stderr || r.stdout)}`);
    return r.stdout;
  }

  /** The last lines of git's output, scrubbed of the token. */
  tail(text: string): string {
    return scrubToken(text, this.token).trim().split("\n").filter(Boolean).slice(-4).join("\n") || "(no output)";
  }
}

/**
 * Checks `src.commit` out into `workspace` (created if missing; it should be
 * empty). Throws a CheckoutError whose message says what failed, with git's
 * error text, never the token.
 */
export async function checkout(src: CheckoutSource, workspace: string, opts: CheckoutOptions): Promise<CheckoutResult> {
  if (!/^[0-9a-f]{40}$/.test(src.commit)) throw new CheckoutError(`cannot check out "${src.commit}": not a full 40-hex commit id`);
  if (!src.url) throw new CheckoutError("cannot check out: the run names no repository URL");
  const git = new Git(src.token || undefined, opts);
  const cacheDir = cacheDirFor(opts.cacheRoot, src.url);
  try {
    const result = await withLock(cacheDir, () => fetchIntoCache(git, src, cacheDir));
    await materialise(git, src, cacheDir, workspace);
    return result;
  } catch (err) {
    // The whole text, ours included (a URL may hold the token): scrubbed once more on its way out.
    const message = scrubToken(err instanceof Error ? err.message : String(err), src.token || undefined);
    throw new CheckoutError(message);
  }
}

async function hasCommit(git: Git, cacheDir: string, commit: string): Promise<boolean> {
  return (await git.run(["--git-dir", cacheDir, "cat-file", "-e", `${commit}^{commit}`])).code === 0;
}

async function fetchIntoCache(git: Git, src: CheckoutSource, cacheDir: string): Promise<CheckoutResult> {
  if (!existsSync(join(cacheDir, "HEAD"))) {
    try {
      await mkdir(cacheDir, { recursive: true });
    } catch (err) {
      throw new CheckoutError(`cannot create the git cache ${cacheDir}: ${(err as Error).message}`, { cause: err });
    }
    await git.ok(`cannot create the git cache ${cacheDir}`, ["init", "--bare", "-q", cacheDir]);
    // Workspaces borrow its objects: nothing may ever prune them.
    await git.ok("cannot configure the git cache", ["--git-dir", cacheDir, "config", "gc.auto", "0"]);
  }
  if (await hasCommit(git, cacheDir, src.commit)) return { cacheDir, fetched: false };
  const url = redactUrl(src.url);
  const pin = `refs/hodei/commits/${src.commit}`;
  const base = ["--git-dir", cacheDir, "fetch", "--depth=1", "--no-tags", "--no-write-fetch-head", "--quiet", "--", src.url];
  const byId = await git.run([...base, `+${src.commit}:${pin}`]);
  if (byId.code === 0 && (await hasCommit(git, cacheDir, src.commit))) return { cacheDir, fetched: true, via: "commit" };
  const why = git.tail(byId.stderr);
  // Servers without uploadpack.allowReachableSHA1InWant (protocol v0/v1) refuse a commit no ref points at
  // by its id: fetch the ref it was pushed to, then the commit must be among what came.
  const refused = /unadvertised object|not our ref|allowReachableSHA1InWant|couldn't find remote ref|no such remote ref/i.test(why);
  if (!src.ref || !refused) throw new CheckoutError(`git fetch of commit ${src.commit} from ${url} failed: ${why}`);
  const tmp = `refs/hodei/fetching/${src.commit}`;
  for (const depth of ["--depth=1", "--depth=1000"]) {
    const r = await git.run(["--git-dir", cacheDir, "fetch", depth, "--no-tags", "--no-write-fetch-head", "--quiet", "--", src.url, `+${src.ref}:${tmp}`]);
    if (r.code !== 0) throw new CheckoutError(`git fetch of commit ${src.commit} from ${url} failed: ${why}\nfetching ${src.ref} instead failed too: ${git.tail(r.stderr)}`);
    if (await hasCommit(git, cacheDir, src.commit)) {
      await git.ok("cannot pin the fetched commit", ["--git-dir", cacheDir, "update-ref", pin, src.commit]);
      await git.run(["--git-dir", cacheDir, "update-ref", "-d", tmp]);
      return { cacheDir, fetched: true, via: "ref" };
    }
  }
  await git.run(["--git-dir", cacheDir, "update-ref", "-d", tmp]);
  throw new CheckoutError(`commit ${src.commit} is not in ${url}: the server refused it by id (${why}) and it is not among the last 1000 commits of ${src.ref}`);
}

/** The workspace as a repository of its own borrowing the cache's objects, HEAD detached at the commit. */
async function materialise(git: Git, src: CheckoutSource, cacheDir: string, workspace: string): Promise<void> {
  try {
    await mkdir(workspace, { recursive: true });
  } catch (err) {
    throw new CheckoutError(`cannot create the workspace: ${(err as Error).message}`, { cause: err });
  }
  await git.ok("cannot create the workspace repository", ["init", "-q", workspace]);
  const dotGit = join(workspace, ".git");
  try {
    await writeFile(join(dotGit, "objects", "info", "alternates"), `${join(cacheDir, "objects")}\n`);
    // The cache is shallow: without its list of cut-off commits, git in the workspace would look for their parents.
    if (existsSync(join(cacheDir, "shallow"))) await copyFile(join(cacheDir, "shallow"), join(dotGit, "shallow"));
  } catch (err) {
    throw new CheckoutError(`cannot link the workspace to the git cache: ${(err as Error).message}`, { cause: err });
  }
  // origin without credentials: the job may fetch more of a public repo; the token never lands on disk.
  // The agent writes the job's script to .hodei/script.sh: not a change of the checkout.
  await writeFile(join(dotGit, "info", "exclude"), "/.hodei/script.sh\n", { flag: "a" }).catch(() => undefined);
  await git.ok("cannot set the workspace's origin", ["-C", workspace, "remote", "add", "origin", redactUrl(src.url)]);
  await git.ok(`cannot check out ${src.commit}`, ["-C", workspace, "checkout", "-q", "--detach", src.commit]);
}
