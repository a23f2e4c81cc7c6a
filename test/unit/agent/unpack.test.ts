// The agent reads a source bundle as hostile (agent/unpack.ts). Hostile tars
// are made by hand here, header by header, since no honest writer makes them.
import { describe, expect, it } from "vitest";
import { execFileSync } from "node:child_process";
import { existsSync, lstatSync, mkdirSync, readFileSync, readdirSync, readlinkSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { BundleError, unpackBundle } from "../../../agent/unpack.js";
import { makeSourceBundle } from "../../../cli/source-bundle.js";
import { tempDir } from "../../helpers/procs.js";

type E = { name: string; type?: string; data?: string; link?: string };

function header(name: string, type: string, size: number, link: string): Buffer {
  const h = Buffer.alloc(512);
  h.write(name, 0);
  h.write("0000644\0", 100);
  h.write(size.toString(8).padStart(11, "0") + "\0", 124);
  h.write("        ", 148);
  h.write(type, 156);
  h.write(link, 157);
  h.write("ustar\u000000", 257);
  let sum = 0;
  for (const b of h) sum += b;
  h.write(sum.toString(8).padStart(7, "0") + "\0", 148);
  return h;
}

function tar(entries: E[]): Buffer {
  const parts: Buffer[] = [];
  for (const e of entries) {
    const data = Buffer.from(e.data ?? "");
    parts.push(header(e.name, e.type ?? "0", data.length, e.link ?? ""), data, Buffer.alloc((512 - (data.length % 512)) % 512));
  }
  parts.push(Buffer.alloc(1024));
  return gzipSync(Buffer.concat(parts));
}

function pax(records: Record<string, string>): E {
  const body = Object.entries(records)
    .map(([k, v]) => {
      const rest = ` ${k}=${v}\n`;
      let len = rest.length + 2;
      if (String(len).length + rest.length !== len) len = String(len + 1).length + rest.length;
      return `${len}${rest}`;
    })
    .join("");
  return { name: "PaxHeader", type: "x", data: body };
}

/** A workspace inside a parent directory, so a write that escapes it lands where the test can look. */
function sandbox(): { parent: string; ws: string } {
  const parent = tempDir("hodei-unpack-");
  const ws = join(parent, "ws");
  mkdirSync(ws);
  return { parent, ws };
}

describe("unpackBundle refuses hostile bundles", () => {
  const cases: [string, E[], RegExp][] = [
    ["a .. path", [{ name: "../escaped", data: "x" }], /unsafe path "\.\.\/escaped"/],
    ["a .. in the middle", [{ name: "a/../../escaped", data: "x" }], /unsafe path/],
    ["an absolute path", [{ name: "/tmp/hodei-absolute-escape", data: "x" }], /unsafe path "\/tmp\/hodei-absolute-escape"/],
    ["a pax path with ..", [pax({ path: "../escaped" }), { name: "innocent", data: "x" }], /unsafe path "\.\.\/escaped"/],
    ["a symlink to an absolute path", [{ name: "link", type: "2", link: "/etc" }], /symlink "link" -> "\/etc" pointing outside/],
    ["a symlink up and out", [{ name: "sub/link", type: "2", link: "../../escaped" }], /pointing outside/],
    ["a symlink to the workspace's parent", [{ name: "link", type: "2", link: ".." }], /pointing outside/],
    [
      "a .. after a symlink that points up (reads as inside, resolves outside)",
      [
        { name: "d/x", type: "5" },
        { name: "d/a", type: "2", link: "../x" },
        { name: "c", type: "2", link: "d/a/../../escaped" },
      ],
      /symlink "c" -> "d\/a\/\.\.\/\.\.\/escaped" pointing outside/,
    ],
    [
      "a file written through a symlink",
      [
        { name: "inside", type: "5" },
        { name: "link", type: "2", link: "inside" },
        { name: "link/file", data: "x" },
      ],
      /writes "link\/file" through a symlink/,
    ],
    ["a hard link", [{ name: "f", data: "x" }, { name: "hard", type: "1", link: "/etc/passwd" }], /tar type '1'/],
    ["a device", [{ name: "dev", type: "3" }], /tar type '3'/],
    ["a directory replaced by a file", [{ name: "dir", type: "5" }, { name: "dir", data: "x" }], /replaces the directory "dir"/],
    // Files are written concurrently (agent/unpack.ts): a run of them must not slip past a symlink or directory entry.
    [
      "a file through a symlink that replaced a directory checked earlier",
      [{ name: "d/one", data: "1" }, { name: "d/two", data: "2" }, { name: "d", type: "2", link: "." }, { name: "d/three", data: "3" }],
      /replaces the directory "d"/,
    ],
    [
      "a file through a symlink made among many files",
      [...Array.from({ length: 40 }, (_, i) => ({ name: `f${i}`, data: String(i) })), { name: "s", type: "2", link: "f1" }, { name: "s/x", data: "x" }],
      /"s\/x" (through a symlink|under a path that is not a directory)/,
    ],
    [
      "a file through a symlink to a directory, made among many files",
      [{ name: "d", type: "5" }, ...Array.from({ length: 40 }, (_, i) => ({ name: `d/f${i}`, data: String(i) })), { name: "s", type: "2", link: "d" }, { name: "s/x", data: "x" }],
      /writes "s\/x" through a symlink/,
    ],
    ["a directory made by a file written among others", [{ name: "x", data: "file" }, { name: "x/y", data: "nested" }], /replaces the directory "x"|"x\/y" under a path that is not a directory/],
  ];

  for (const [what, entries, message] of cases) {
    it(`refuses ${what}`, async () => {
      const { parent, ws } = sandbox();
      const err = await unpackBundle(tar(entries), ws).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(BundleError);
      expect((err as Error).message).toMatch(message);
      expect(readdirSync(parent)).toEqual(["ws"]);
      expect(existsSync("/tmp/hodei-absolute-escape")).toBe(false);
    });
  }

  it("writes a long run of files concurrently, the last of two same-named entries winning", async () => {
    const { ws } = sandbox();
    const many = Array.from({ length: 100 }, (_, i) => ({ name: `dir${i % 7}/sub/f${i}`, data: `content ${i}` }));
    const n = await unpackBundle(tar([...many, { name: "dup", data: "first" }, { name: "dup", data: "second" }]), ws);
    expect(n).toBe(102);
    for (let i = 0; i < 100; i++) expect(readFileSync(join(ws, `dir${i % 7}/sub/f${i}`), "utf8")).toBe(`content ${i}`);
    expect(readFileSync(join(ws, "dup"), "utf8")).toBe("second");
  });

  it("refuses a truncated bundle and one that is not gzip", async () => {
    const { ws } = sandbox();
    const whole = tar([{ name: "f", data: "x".repeat(2000) }]);
    const { gunzipSync } = await import("node:zlib");
    const cut = gzipSync(gunzipSync(whole).subarray(0, 1024));
    await expect(unpackBundle(cut, ws)).rejects.toThrow(/truncated/);
    await expect(unpackBundle(Buffer.from("not gzip"), ws)).rejects.toThrow(/not valid gzip/);
  });
});

describe("makeSourceBundle then unpackBundle", () => {
  it("round-trips files, their executable bit, long names and symlinks inside the tree", async () => {
    const src = tempDir("hodei-bundle-src-");
    const long = `${"d".repeat(90)}/${"e".repeat(90)}/${"f".repeat(60)}.txt`;
    mkdirSync(join(src, long, ".."), { recursive: true });
    writeFileSync(join(src, long), "long name\n");
    writeFileSync(join(src, "run.sh"), "#!/bin/sh\n", { mode: 0o755 });
    writeFileSync(join(src, "job.yaml"), "kind: Job\n");
    symlinkSync("run.sh", join(src, "alias.sh"));
    const bundle = await makeSourceBundle(join(src, "job.yaml"));
    expect(bundle).toMatchObject({ root: src, files: 4 });

    const { ws } = sandbox();
    expect(await unpackBundle(bundle.data, ws)).toBe(4);
    expect(readFileSync(join(ws, long), "utf8")).toBe("long name\n");
    expect(statSync(join(ws, "run.sh")).mode & 0o777).toBe(0o755);
    expect(statSync(join(ws, "job.yaml")).mode & 0o777).toBe(0o644);
    expect(lstatSync(join(ws, "alias.sh")).isSymbolicLink()).toBe(true);
    expect(readlinkSync(join(ws, "alias.sh"))).toBe("run.sh");
  });

  it("in a Git working tree, takes the repository root's tracked and untracked files but not ignored ones", async () => {
    const repo = tempDir("hodei-bundle-repo-");
    execFileSync("git", ["init", "-q"], { cwd: repo });
    writeFileSync(join(repo, ".gitignore"), "*.log\n");
    writeFileSync(join(repo, "a.txt"), "a\n");
    writeFileSync(join(repo, "debug.log"), "ignored\n");
    mkdirSync(join(repo, "jobs"));
    writeFileSync(join(repo, "jobs", "j.yaml"), "kind: Job\n");
    const bundle = await makeSourceBundle(join(repo, "jobs", "j.yaml"));
    expect(bundle.root).toBe(execFileSync("git", ["rev-parse", "--show-toplevel"], { cwd: repo, encoding: "utf8" }).trim());
    const { ws } = sandbox();
    await unpackBundle(bundle.data, ws);
    expect(readdirSync(ws).sort()).toEqual([".gitignore", "a.txt", "jobs"]);
  });

  it("names the limit and --no-source when the tree is too large", async () => {
    const src = tempDir("hodei-bundle-big-");
    writeFileSync(join(src, "job.yaml"), "x".repeat(10_000) + Math.random());
    await expect(makeSourceBundle(join(src, "job.yaml"), 10)).rejects.toThrow(/compressed \(1 files\); the limit is 0\.0 MiB\. .*--no-source/);
  });
});
