// The working tree a job runs in (docs/specs.md, "The working tree in the
// job"): `hodei run` packs the files around the job file into a gzip'd tar
// that the controller stores and the agent unpacks into the run's workspace.
//
// Inside a Git working tree: git's own list, `git ls-files -co
// --exclude-standard` from the repository root, i.e. tracked files (with
// their uncommitted edits), plus untracked files that .gitignore does not
// exclude; files deleted from the working tree are left out. Outside any
// repository: every file under the job file's directory.
import { execFile } from "node:child_process";
import { lstat, readFile, readdir, readlink, realpath } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import { promisify } from "node:util";
import { constants, createGzip, type Gzip } from "node:zlib";
import { defaultDataDir } from "./embedded.js";
import { UsageError } from "./errors.js";

const run = promisify(execFile);

/**
 * 15 MiB compressed: the bundle travels in SubmitRunRequest, and gRPC's
 * message cap is 16 MiB (controller/grpc-options.ts); the rest is headroom for
 * the job document.
 */
export const MAX_BUNDLE_BYTES = 15 * 1024 * 1024;

export interface SourceBundle {
  /** The directory whose content the bundle holds (the repository root, or the file's directory). */
  root: string;
  files: number;
  data: Buffer;
}

/** The repository root containing `dir`, or undefined when `dir` is in no Git working tree (or git is missing). */
async function gitRoot(dir: string): Promise<string | undefined> {
  try {
    const { stdout } = await run("git", ["-C", dir, "rev-parse", "--show-toplevel"]);
    return stdout.trim() || undefined;
  } catch {
    return undefined;
  }
}

/**
 * The working tree a job file belongs to, as a real path: its repository's
 * root, or the file's own directory outside any repository (`hodei run
 * --in-place` runs the job in it; the bundle holds the same directory's files).
 */
export async function workingTreeRoot(jobFile: string): Promise<string> {
  const dir = await realpath(dirname(resolve(jobFile)));
  return (await gitRoot(dir)) ?? dir;
}

async function gitFiles(root: string): Promise<string[]> {
  const { stdout } = await run("git", ["-C", root, "ls-files", "-co", "--exclude-standard", "-z"], { maxBuffer: 256 * 1024 * 1024 });
  return stdout.split("\0").filter((p) => p !== "");
}

async function walk(root: string, rel = "", skip: ReadonlySet<string> = hodeiDataDirs()): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(join(root, rel), { withFileTypes: true })) {
    const path = rel ? `${rel}/${e.name}` : e.name;
    if (e.isDirectory()) {
      if (e.name !== ".git" && !skip.has(resolve(root, path))) out.push(...(await walk(root, path, skip)));
    } else if (e.isFile() || e.isSymbolicLink()) {
      // Sockets, FIFOs and devices are not source.
      out.push(path);
    }
  }
  return out;
}

/** Hodei's own database and workspaces are never part of a job's source, whatever folder the job file is in. */
function hodeiDataDirs(): ReadonlySet<string> {
  const dataDir = resolve(defaultDataDir());
  return new Set([join(dataDir, "db"), join(dataDir, "work")]);
}

/** Packs the working tree around `jobFile`; throws a UsageError naming the limit and --no-source when it is too large. */
export async function makeSourceBundle(jobFile: string, limit = MAX_BUNDLE_BYTES): Promise<SourceBundle> {
  const dir = dirname(resolve(jobFile));
  const repo = await gitRoot(dir);
  const root = repo ?? dir;
  const paths = (repo ? await gitFiles(repo) : await walk(dir)).sort();
  const tar = new TarWriter();
  let files = 0;
  const tooLarge = (size: number): UsageError =>
    new UsageError(
      `the working tree in ${root} is ${files === paths.length ? "" : "over "}${mib(size)} compressed (${files} files${files === paths.length ? "" : " so far"}); the limit is ${mib(limit)}. ` +
        "Ignore large files in .gitignore, or run with --no-source to start the job in an empty workspace.",
    );
  // Files are read a few at a time ahead of the writer (a tree of small files is bound by syscall
  // latency), and written in order; reading stops once the limit is passed.
  const read = (path: string): Promise<Read> => readEntry(join(root, path));
  const ahead: Promise<Read>[] = [];
  let next = 0;
  const fill = (): void => {
    while (ahead.length < READ_AHEAD && next < paths.length) {
      const p = read(paths[next++]!);
      p.catch(() => {}); // awaited below, in order
      ahead.push(p);
    }
  };
  for (const path of paths) {
    fill();
    const entry = await ahead.shift()!;
    if (entry.kind === "symlink") await tar.symlink(path, entry.target);
    else if (entry.kind === "file") await tar.file(path, entry.data, entry.mode);
    else continue; // deleted in the working tree, a submodule's directory, a socket, a fifo
    files++;
    // Stop reading as soon as the limit is passed, not after a huge tree is read whole.
    if (tar.compressedBytes > limit) throw tooLarge(tar.compressedBytes);
  }
  const data = await tar.finish();
  if (data.length > limit) throw tooLarge(data.length);
  return { root, files, data };
}

const READ_AHEAD = 16;

type Read = { kind: "file"; data: Buffer; mode: number } | { kind: "symlink"; target: string } | { kind: "skip" };

async function readEntry(full: string): Promise<Read> {
  let st;
  try {
    st = await lstat(full);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return { kind: "skip" }; // deleted in the working tree
    throw err;
  }
  if (st.isSymbolicLink()) return { kind: "symlink", target: await readlink(full) };
  if (st.isFile()) return { kind: "file", data: await readFile(full), mode: st.mode };
  return { kind: "skip" };
}

const mib = (n: number): string => `${(n / 1024 / 1024).toFixed(1)} MiB`;

/**
 * The smallest tar writer that suffices: ustar headers, with a pax extended
 * header for names or link targets longer than ustar's 100 bytes. Owners and
 * times are zero: the agent does not restore them.
 */
const FLUSH_EVERY = 1024 * 1024;

class TarWriter {
  private readonly gzip: Gzip = createGzip();
  private readonly out: Buffer[] = [];
  compressedBytes = 0;
  private unflushed = 0;

  constructor() {
    this.gzip.on("data", (b: Buffer) => {
      this.out.push(b);
      this.compressedBytes += b.length;
    });
  }

  file(path: string, data: Buffer, mode: number): Promise<void> {
    return this.entry(path, "0", data, mode & 0o111 ? 0o755 : 0o644, "");
  }

  symlink(path: string, target: string): Promise<void> {
    return this.entry(path, "2", Buffer.alloc(0), 0o777, target);
  }

  async finish(): Promise<Buffer> {
    const ended = new Promise<void>((resolve, reject) => {
      this.gzip.once("end", resolve);
      this.gzip.once("error", reject);
    });
    this.gzip.end(Buffer.alloc(1024));
    await ended;
    return Buffer.concat(this.out);
  }

  private async entry(path: string, type: string, data: Buffer, mode: number, link: string): Promise<void> {
    const pax: string[] = [];
    if (Buffer.byteLength(path) > 100) pax.push(paxRecord("path", path));
    if (Buffer.byteLength(link) > 100) pax.push(paxRecord("linkpath", link));
    if (pax.length > 0) {
      const body = Buffer.from(pax.join(""));
      await this.write(header("PaxHeader", "x", body.length, 0o644, ""), pad(body));
    }
    await this.write(header(path, type, data.length, mode, link), pad(data));
  }

  /**
   * Compressed (a sync flush) every MiB of input, so compressedBytes follows
   * the tree closely enough to stop early, at little cost to the ratio.
   */
  private async write(...parts: Buffer[]): Promise<void> {
    let ok = true;
    for (const p of parts) {
      ok = this.gzip.write(p) && ok;
      this.unflushed += p.length;
    }
    if (this.unflushed >= FLUSH_EVERY) {
      this.unflushed = 0;
      await new Promise<void>((resolve) => this.gzip.flush(constants.Z_SYNC_FLUSH, () => resolve()));
    } else if (!ok) {
      await new Promise<void>((resolve) => this.gzip.once("drain", resolve));
    }
    if (this.gzip.errored) throw this.gzip.errored;
  }
}

function paxRecord(key: string, value: string): string {
  // "<length> key=value\n" where length counts itself.
  const rest = ` ${key}=${value}\n`;
  let len = Buffer.byteLength(rest) + 1;
  while (String(len).length + Buffer.byteLength(rest) !== len) len = String(len).length + Buffer.byteLength(rest);
  return `${len}${rest}`;
}

function header(name: string, type: string, size: number, mode: number, link: string): Buffer {
  const h = Buffer.alloc(512);
  Buffer.from(name).copy(h, 0, 0, 100);
  h.write(octal(mode, 8), 100);
  h.write(octal(0, 8), 108);
  h.write(octal(0, 8), 116);
  h.write(octal(size, 12), 124);
  h.write(octal(0, 12), 136);
  h.write("        ", 148);
  h.write(type, 156);
  Buffer.from(link).copy(h, 157, 0, 100);
  h.write("ustar\u000000", 257);
  let sum = 0;
  for (const b of h) sum += b;
  h.write(octal(sum, 8), 148);
  return h;
}

/** Zero-padded octal with a NUL, as ustar wants; sizes up to 8 GiB fit 12 bytes. */
const octal = (n: number, width: number): string => n.toString(8).padStart(width - 1, "0") + "\0";

const pad = (b: Buffer): Buffer => (b.length % 512 === 0 ? b : Buffer.concat([b, Buffer.alloc(512 - (b.length % 512))]));
