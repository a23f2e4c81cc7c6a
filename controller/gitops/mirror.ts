/**
 * One bare mirror per repository under the controller's mirror folder, kept
 * with simple-git. A fetch brings every branch and tag (incrementally: git
 * sends only what the mirror lacks); definitions are read from the object
 * database at a commit, never from a checkout, so reading one commit cannot
 * disturb a sync of another.
 *
 * A repo's token reaches git as an HTTP header through GIT_CONFIG_* variables,
 * never on the command line (where `ps` would show it), and every error text
 * is scrubbed of it before it leaves this module.
 */
import { spawn } from "node:child_process";
import { existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { simpleGit, type SimpleGit } from "simple-git";

/** git's name for "no commit": a push's `before` on a new branch, `after` on a deleted one. */
export const ZERO_COMMIT = "0000000000000000000000000000000000000000";

/** A fetch or read longer than this is stuck (a black-holed server); it is killed. */
const GIT_TIMEOUT_MS = 5 * 60_000;

export class MirrorError extends Error {
  override name = "MirrorError";
}

export interface MirrorSource {
  url: string;
  token?: string | null;
}

/** What git may see of the controller's environment: where things are, proxies and CA bundles, nothing else. */
const PASSED_ENV = ["PATH", "HOME", "USER", "LANG", "TMPDIR", "XDG_CONFIG_HOME", "SSH_AUTH_SOCK", "GIT_SSL_CAINFO", "GIT_SSL_CAPATH", "SSL_CERT_FILE", "SSL_CERT_DIR",
  "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "no_proxy", "ALL_PROXY", "all_proxy"];

/** The git environment: never prompt (a sync must fail, not hang), and the token as a header. */
/**
 * Variables naming programs a fetch never needs (editors, pagers, password
 * prompts). simple-git refuses to run git while any is set, so a controller
 * started from a shell (or a test runner) with EDITOR set could not sync.
 */

function gitEnv(token?: string | null): Record<string, string> {
  const env: Record<string, string> = {};
  for (const k of PASSED_ENV) if (process.env[k] !== undefined) env[k] = process.env[k]!;
  Object.assign(env, {
    GIT_TERMINAL_PROMPT: "0",
    GIT_SSH_COMMAND: process.env.GIT_SSH_COMMAND ?? "ssh -o BatchMode=yes -o StrictHostKeyChecking=accept-new",
    LC_ALL: "C",
  });
  if (token) {
    env.GIT_CONFIG_COUNT = "1";
    env.GIT_CONFIG_KEY_0 = "http.extraHeader";
    env.GIT_CONFIG_VALUE_0 = `Authorization: Basic ${Buffer.from(`x-access-token:${token}`).toString("base64")}`;
  }
  return env;
}

/** `text` with every trace of the token (raw or in its header form) replaced. */
export function scrub(text: string, token?: string | null): string {
  if (!token) return text;
  const header = Buffer.from(`x-access-token:${token}`).toString("base64");
  return text.split(token).join("***").split(header).join("***");
}

export class Mirror {
  private constructor(
    readonly dir: string,
    private readonly source: MirrorSource,
  ) {}

  /** The mirror of `source` in `dir`, created (empty) if missing. */
  static async open(dir: string, source: MirrorSource): Promise<Mirror> {
    const m = new Mirror(dir, source);
    if (!existsSync(join(dir, "HEAD"))) {
      try {
        mkdirSync(dir, { recursive: true });
        await m.git().init(true);
      } catch (err) {
        m.fail(`cannot create the mirror in ${dir}`, err);
      }
    }
    return m;
  }

  private git(): SimpleGit {
    return simpleGit({
      baseDir: this.dir,
      timeout: { block: GIT_TIMEOUT_MS },
      // simple-git refuses git's environment variables it does not know to be
      // safe; these are the operator's (CA bundle) or ours (prompt off, ssh, token header).
      unsafe: { allowUnsafeConfigEnvCount: true, allowUnsafeSshCommand: true },
      allowEnvironment: ["GIT_SSL_CAINFO", "GIT_SSL_CAPATH", "GIT_TERMINAL_PROMPT", "GIT_SSH_COMMAND", "GIT_CONFIG_COUNT", "GIT_CONFIG_KEY_0", "GIT_CONFIG_VALUE_0"],
    }).env(gitEnv(this.source.token));
  }

  private fail(what: string, err: unknown): never {
    const raw = err instanceof Error ? err.message : String(err);
    const text = scrub(raw, this.source.token).trim().split("\n").filter(Boolean).slice(-3).join("; ");
    throw new MirrorError(`${what}: ${text}`);
  }

  /** Fetches every branch and tag; branches and tags deleted upstream are pruned. */
  async fetch(): Promise<void> {
    try {
      await this.git().raw(["fetch", "--prune", "--prune-tags", "--force", "--no-write-fetch-head", this.source.url, "+refs/heads/*:refs/heads/*", "+refs/tags/*:refs/tags/*"]);
    } catch (err) {
      this.fail(`git fetch ${redactUrl(this.source.url)} failed`, err);
    }
  }

  /** The commit `obj` is or points at (an annotated tag is peeled), or undefined when the mirror has none. */
  async commitOf(obj: string): Promise<string | undefined> {
    if (!/^[0-9a-f]{40}$/.test(obj)) return undefined;
    try {
      const c = (await this.git().raw(["rev-parse", "--verify", "--quiet", `${obj}^{commit}`])).trim();
      return /^[0-9a-f]{40}$/.test(c) ? c : undefined;
    } catch {
      return undefined;
    }
  }

  /**
   * Brings a pull (merge) request's head commit into the mirror: the server's
   * ref for it (GitHub refs/pull/N/head, GitLab refs/merge-requests/N/head),
   * kept as refs/hodei/pr/N, which refs() does not list; failing that, the
   * commit itself (servers that allow fetching a reachable sha). True when the
   * mirror has `sha` afterwards.
   */
  async fetchPullHead(ref: string, sha: string): Promise<boolean> {
    const m = /^refs\/(?:pull|merge-requests)\/(\d{1,10})\/head$/.exec(ref);
    if (!m || !/^[0-9a-f]{40}$/.test(sha)) throw new MirrorError(`not a pull request head: ${ref.slice(0, 100)} ${sha.slice(0, 60)}`);
    if (await this.hasCommit(sha)) return true;
    for (const spec of [`+${ref}:refs/hodei/pr/${m[1]}`, sha]) {
      try {
        await this.git().raw(["fetch", "--force", "--no-write-fetch-head", this.source.url, spec]);
      } catch {
        continue; // the next way, or false
      }
      if (await this.hasCommit(sha)) return true;
    }
    return false;
  }

  /** Every branch (refs/heads/…) and tag (refs/tags/…) with the commit it points at (tags peeled). */
  async refs(): Promise<Map<string, string>> {
    let out: string;
    try {
      out = await this.git().raw(["for-each-ref", "--format=%(refname) %(objectname) %(*objectname)", "refs/heads", "refs/tags"]);
    } catch (err) {
      this.fail("git for-each-ref failed", err);
    }
    const refs = new Map<string, string>();
    for (const line of out.split("\n")) {
      const [ref, obj, peeled] = line.split(" ");
      if (ref && obj) refs.set(ref, peeled || obj);
    }
    return refs;
  }

  /**
   * The commit a branch or tag name, a full ref or a (possibly short) sha
   * names in the mirror, with the full ref it matched (the sha itself for a
   * commit); undefined when it names none. Branches win over tags of the
   * same name, as in git.
   */
  async resolveCommit(ref: string): Promise<{ commit: string; ref: string } | undefined> {
    const refs = await this.refs();
    for (const r of [ref, `refs/heads/${ref}`, `refs/tags/${ref}`]) {
      const commit = refs.get(r);
      if (commit) return { commit, ref: r };
    }
    if (!/^[0-9a-f]{7,40}$/.test(ref)) return undefined;
    try {
      const commit = (await this.git().raw(["rev-parse", "--verify", "--quiet", `${ref}^{commit}`])).trim();
      return commit ? { commit, ref: commit } : undefined;
    } catch {
      return undefined;
    }
  }

  /** True when the mirror has this commit. */
  async hasCommit(commit: string): Promise<boolean> {
    if (!/^[0-9a-f]{40}$/.test(commit)) return false;
    try {
      const t = await this.git().raw(["cat-file", "-t", commit]);
      return t.trim() === "commit";
    } catch {
      return false;
    }
  }

  /**
   * The files changed between two commits, for path filters. From the mirror,
   * not a webhook's payload (GitHub cuts its list at 3000 files). `before` may
   * be ZERO_COMMIT (a new branch): then the changes since `base` (the default
   * branch) are listed, or every file of `after` when there is no base.
   */
  async changedFiles(before: string, after: string, base?: string): Promise<string[]> {
    let args: string[];
    if (before !== ZERO_COMMIT && (await this.hasCommit(before))) args = ["diff", "--name-only", "-z", "--no-renames", before, after];
    else if (base && (await this.hasCommit(base))) args = ["diff", "--name-only", "-z", "--no-renames", `${base}...${after}`];
    else args = ["ls-tree", "-r", "-z", "--name-only", "--full-tree", after];
    try {
      const out = await this.git().raw(args);
      return out.split("\0").filter(Boolean);
    } catch (err) {
      this.fail(`git ${args[0]} failed`, err);
    }
  }

  /**
   * The YAML files under `path` at `commit`, with their text. Files larger
   * than `maxBytes` are returned with `tooLarge` and no text (the loader
   * reports them), so one huge file costs no memory.
   */
  async readYaml(commit: string, path: string, maxBytes: number): Promise<{ file: string; text?: string; size: number }[]> {
    const prefix = path.replace(/^\.\/+/, "").replace(/\/+$/, "");
    let listing: string;
    try {
      listing = await this.git().raw(["ls-tree", "-r", "-z", "-l", "--full-tree", commit, "--", prefix || "."]);
    } catch (err) {
      this.fail(`git ls-tree ${commit} failed`, err);
    }
    const entries: { file: string; blob: string; size: number }[] = [];
    for (const rec of listing.split("\0")) {
      // "<mode> <type> <object> <size>\t<path>"
      const m = /^\d+ blob ([0-9a-f]{40}) +(\d+)\t(.*)$/s.exec(rec);
      if (m && /\.ya?ml$/i.test(m[3]!)) entries.push({ blob: m[1]!, size: Number(m[2]), file: m[3]! });
    }
    const wanted = entries.filter((e) => e.size <= maxBytes);
    const texts = await this.catBlobs(wanted.map((e) => e.blob));
    return entries.map((e) => ({ file: e.file, size: e.size, text: e.size <= maxBytes ? texts.get(e.blob) : undefined }));
  }

  /** Reads blobs with one `git cat-file --batch`. */
  private catBlobs(blobs: string[]): Promise<Map<string, string>> {
    const out = new Map<string, string>();
    if (blobs.length === 0) return Promise.resolve(out);
    return new Promise((resolve, reject) => {
      const child = spawn("git", ["cat-file", "--batch"], { cwd: this.dir, env: gitEnv(), stdio: ["pipe", "pipe", "pipe"] });
      const timer = setTimeout(() => child.kill("SIGKILL"), GIT_TIMEOUT_MS);
      const chunks: Buffer[] = [];
      let stderr = "";
      child.stdout.on("data", (c: Buffer) => chunks.push(c));
      child.stderr.on("data", (c: Buffer) => (stderr += c.toString()));
      child.on("error", (err) => {
        clearTimeout(timer);
        reject(new MirrorError(`git cat-file failed: ${err.message}`));
      });
      child.on("close", (code) => {
        clearTimeout(timer);
        if (code !== 0) return reject(new MirrorError(`git cat-file failed (exit ${code}): ${stderr.trim()}`));
        const buf = Buffer.concat(chunks);
        let at = 0;
        while (at < buf.length) {
          const nl = buf.indexOf(0x0a, at);
          if (nl < 0) break;
          const header = buf.subarray(at, nl).toString();
          const [oid, type, size] = header.split(" ");
          if (type === undefined || size === undefined) {
            at = nl + 1; // "<oid> missing"
            continue;
          }
          const n = Number(size);
          out.set(oid!, buf.subarray(nl + 1, nl + 1 + n).toString("utf8"));
          at = nl + 1 + n + 1;
        }
        resolve(out);
      });
      child.stdin.on("error", () => {}); // git exits early on a bad request; close reports it
      child.stdin.end(blobs.join("\n") + "\n");
    });
  }
}

/** A URL fit for a log or an error: its user-info (user:password@) removed. */
export function redactUrl(url: string): string {
  return url.replace(/^([a-z][a-z0-9+.-]*:\/\/)[^/@]*@/i, "$1");
}
