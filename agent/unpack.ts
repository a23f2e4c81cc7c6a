// Unpacks a run's source bundle (a gzip'd tar made by cli/source-bundle.ts)
// into its workspace. The bundle comes from whoever could submit a run, so it
// is read as hostile: regular files, directories and symlinks only; no
// absolute names, no `..`; a symlink's target must stay inside the workspace;
// nothing is written through a symlink or over a directory; the unpacked size
// is capped. Any violation refuses the whole bundle (the job does not start).
import { lstat, mkdir, realpath, rm, symlink, writeFile } from "node:fs/promises";
import { dirname, isAbsolute, join, normalize, relative, resolve, sep } from "node:path";
import { gunzipSync } from "node:zlib";
import { SpawnError } from "./errors.js";

/** A bomb guard: 15 MiB of gzip can expand a thousandfold; real trees stay far below this. */
export const MAX_UNPACKED_BYTES = 2 * 1024 * 1024 * 1024 - 1;

export class BundleError extends SpawnError {}

interface Entry {
  path: string;
  type: "file" | "dir" | "symlink";
  mode: number;
  data: Buffer;
  link: string;
}

/** Regular files written at once: their parents are checked first, so the order between them does not matter. */
const PARALLEL_WRITES = 32;

/** Unpacks `gz` into `workspace` (which must exist); returns how many entries it wrote. */
export async function unpackBundle(gz: Buffer, workspace: string): Promise<number> {
  let tar: Buffer;
  try {
    tar = gunzipSync(gz, { maxOutputLength: MAX_UNPACKED_BYTES });
  } catch (err) {
    throw new BundleError(`source bundle is not valid gzip or unpacks beyond ${MAX_UNPACKED_BYTES} bytes: ${(err as Error).message}`, undefined, { cause: err });
  }
  const root = await realpath(workspace);
  const w = new Writer(root);
  let n = 0;
  for (const e of entries(tar)) {
    await w.write(e);
    n++;
  }
  await w.flush();
  return n;
}

/**
 * Writes entries in archive order, except that runs of regular files are
 * written concurrently (a tree of small files is bound by syscall latency,
 * not bytes). Safe because a directory, once checked to be a real directory
 * inside the workspace, stays one: no later entry may replace a directory,
 * and a symlink or directory entry waits for every pending file first.
 */
class Writer {
  /** Real directories inside the workspace, checked (or made) by us. */
  private readonly dirs = new Set<string>();
  private pending: Promise<void>[] = [];
  private pendingPaths = new Set<string>();

  constructor(private readonly root: string) {
    this.dirs.add(root);
  }

  async write(e: Entry): Promise<void> {
    const target = join(this.root, safeName(e.path));
    if (e.type !== "file" || this.pendingPaths.has(target) || this.pending.length >= PARALLEL_WRITES) await this.flush();
    const parent = await this.parentOf(target, e.path);
    if (e.type === "file") {
      this.pendingPaths.add(target);
      const written = writeFileEntry(target, e);
      // Awaited in flush(); marked handled now, as an early failure may wait there while later files are queued.
      written.catch(() => {});
      this.pending.push(written);
      return;
    }
    const existing = await lstat(target).catch(() => undefined);
    if (existing?.isDirectory()) {
      if (e.type === "dir") return void this.dirs.add(target);
      throw new BundleError(`source bundle replaces the directory "${e.path}"`);
    }
    if (existing) await rm(target);
    if (e.type === "dir") {
      await mkdir(target);
      this.dirs.add(target);
      return;
    }
    if (isAbsolute(e.link) || !upThenDown(e.link) || !inside(this.root, resolve(parent, e.link))) {
      throw new BundleError(`source bundle has a symlink "${e.path}" -> "${e.link}" pointing outside the workspace`);
    }
    await symlink(e.link, target);
  }

  async flush(): Promise<void> {
    const all = this.pending;
    this.pending = [];
    this.pendingPaths = new Set();
    await Promise.all(all);
  }

  /** The target's parent, made if missing; it must be a real directory inside the workspace: never write through a symlink. */
  private async parentOf(target: string, name: string): Promise<string> {
    const dir = dirname(target);
    if (this.dirs.has(dir)) return dir;
    try {
      await mkdir(dir, { recursive: true });
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === "EEXIST" || code === "ENOTDIR") throw new BundleError(`source bundle puts "${name}" under a path that is not a directory`, undefined, { cause: err });
      throw err;
    }
    const real = await realpath(dir);
    if (real !== this.root && !inside(this.root, real)) throw new BundleError(`source bundle writes "${name}" through a symlink leading outside the workspace`);
    if (real !== dir) throw new BundleError(`source bundle writes "${name}" through a symlink`);
    this.dirs.add(dir);
    return dir;
  }
}

/** A regular file; one already there (an earlier entry of the same name) is replaced, a directory is not. */
async function writeFileEntry(target: string, e: Entry): Promise<void> {
  const mode = e.mode & 0o111 ? 0o755 : 0o644;
  try {
    await writeFile(target, e.data, { mode, flag: "wx" });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
    if ((await lstat(target)).isDirectory()) throw new BundleError(`source bundle replaces the directory "${e.path}"`);
    await rm(target);
    await writeFile(target, e.data, { mode, flag: "wx" });
  }
}

/** The entry's path inside the workspace, refusing absolute names and any `..`. */
function safeName(name: string): string {
  if (name === "" || isAbsolute(name) || name.includes("\0")) throw new BundleError(`source bundle has an unsafe path "${name}"`);
  const norm = normalize(name).replace(/\/+$/, "");
  if (norm.split(sep).includes("..") || norm === "." || norm === "") throw new BundleError(`source bundle has an unsafe path "${name}"`);
  return norm;
}

const inside = (root: string, p: string): boolean => {
  const rel = relative(root, p);
  return rel !== "" && rel !== ".." && !rel.startsWith(`..${sep}`) && !isAbsolute(rel);
};

/**
 * `..` only before the first name: past a symlink, `..` leaves where the link
 * points, not where its name is, so `a/../../x` can escape although it reads
 * as `x`.
 */
function upThenDown(link: string): boolean {
  const parts = link.split("/").filter((p) => p !== "" && p !== ".");
  const firstName = parts.findIndex((p) => p !== "..");
  return firstName === -1 || !parts.slice(firstName).includes("..");
}

function* entries(tar: Buffer): Generator<Entry> {
  let off = 0;
  let pax: Record<string, string> = {};
  while (off + 512 <= tar.length) {
    const h = tar.subarray(off, off + 512);
    if (h.every((b) => b === 0)) return;
    const size = parseOctal(h.subarray(124, 136));
    const type = String.fromCharCode(h[156] || 0x30);
    const body = tar.subarray(off + 512, off + 512 + size);
    if (body.length !== size) throw new BundleError("source bundle is truncated");
    off += 512 + Math.ceil(size / 512) * 512;
    if (type === "x") {
      pax = parsePax(body);
      continue;
    }
    if (type === "g") continue;
    const prefix = str(h.subarray(345, 500));
    const path = pax.path ?? (prefix ? `${prefix}/${str(h.subarray(0, 100))}` : str(h.subarray(0, 100)));
    const link = pax.linkpath ?? str(h.subarray(157, 257));
    pax = {};
    const mode = parseOctal(h.subarray(100, 108));
    if (type === "0" || type === "7") yield { path, type: "file", mode, data: body, link: "" };
    else if (type === "5") yield { path, type: "dir", mode, data: body, link: "" };
    else if (type === "2") yield { path, type: "symlink", mode, data: body, link };
    else throw new BundleError(`source bundle has "${path}" of tar type '${type}'; only files, directories and symlinks are accepted`);
  }
  throw new BundleError("source bundle is truncated (no end-of-archive blocks)");
}

const str = (b: Buffer): string => {
  const end = b.indexOf(0);
  return b.subarray(0, end === -1 ? b.length : end).toString("utf8");
};

function parseOctal(b: Buffer): number {
  const s = str(b).trim();
  if (s === "") return 0;
  if (!/^[0-7]+$/.test(s)) throw new BundleError(`source bundle has a malformed tar header field "${s}"`);
  return parseInt(s, 8);
}

function parsePax(body: Buffer): Record<string, string> {
  const out: Record<string, string> = {};
  let off = 0;
  while (off < body.length) {
    const space = body.indexOf(0x20, off);
    const len = parseInt(body.subarray(off, space).toString(), 10);
    if (space === -1 || !(len > 0) || off + len > body.length) throw new BundleError("source bundle has a malformed pax header");
    const record = body.subarray(space + 1, off + len - 1).toString("utf8");
    const eq = record.indexOf("=");
    out[record.slice(0, eq)] = record.slice(eq + 1);
    off += len;
  }
  return out;
}
