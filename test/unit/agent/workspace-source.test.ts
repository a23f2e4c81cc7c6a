// prepareLaunch with a source bundle: fetched, checked against its digest, unpacked before the job starts.
import { createHash } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import os from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { prepareLaunch, workspacePath } from "../../../agent/workspace.js";
import { SpawnError } from "../../../agent/errors.js";
import { makeSourceBundle } from "../../../cli/source-bundle.js";
import { ExecSpec } from "../../../proto/gen/hodei/v1/agent.js";

const root = mkdtempSync(join(os.tmpdir(), "hodei-ws-src-test-"));
const sha = (b: Buffer): string => createHash("sha256").update(b).digest("hex");

async function bundle(): Promise<Buffer> {
  const src = mkdtempSync(join(os.tmpdir(), "hodei-ws-src-tree-"));
  writeFileSync(join(src, "job.yaml"), "kind: Job\n");
  writeFileSync(join(src, "input.txt"), "from the tree\n");
  return (await makeSourceBundle(join(src, "job.yaml"))).data;
}

const request = (runId: string, digest: string, fetchSource?: (d: string) => Promise<Buffer>) => ({
  runId,
  attempt: 1,
  jobName: "j",
  spec: ExecSpec.fromPartial({ script: "cat input.txt", workdir: "", sourceDigest: digest }),
  workspace: workspacePath(root, runId, 1),
  fetchSource,
});

describe("prepareLaunch with a source bundle", () => {
  it("unpacks the bundle it fetched by digest into the workspace", async () => {
    const data = await bundle();
    const asked: string[] = [];
    const plan = await prepareLaunch(request("ok", sha(data), async (d) => (asked.push(d), data)));
    expect(asked).toEqual([sha(data)]);
    expect(readFileSync(join(plan.cwd, "input.txt"), "utf8")).toBe("from the tree\n");
    expect(plan.env.HODEI_WORKSPACE).toBe(plan.cwd);
  });

  it("refuses a bundle whose SHA-256 is not the digest, unpacking nothing", async () => {
    const data = await bundle();
    const req = request("damaged", "0".repeat(64), async () => data);
    await expect(prepareLaunch(req)).rejects.toThrow(/source bundle arrived damaged \(sha256 [0-9a-f]{12}, expected 000000000000\)/);
    expect(existsSync(join(req.workspace, "input.txt"))).toBe(false);
  });

  it("reports a bundle the file system refuses (a file, then a file under it) as a source problem", async () => {
    const { gzipSync } = await import("node:zlib");
    const h = (name: string): Buffer => {
      const b = Buffer.alloc(512);
      b.write(name, 0);
      b.write("0000644\0", 100);
      b.write("00000000000\0", 124);
      b.write("        ", 148);
      b.write("0", 156);
      let sum = 0;
      for (const x of b) sum += x;
      b.write(sum.toString(8).padStart(7, "0") + "\0", 148);
      return b;
    };
    const data = gzipSync(Buffer.concat([h("a"), h("a/b"), Buffer.alloc(1024)]));
    const err = await prepareLaunch(request("enotdir", sha(data), async () => data)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SpawnError);
    expect((err as Error).message).toBe('source bundle puts "a/b" under a path that is not a directory');
  });

  it("says why when the bundle cannot be fetched, or there is no way to fetch it", async () => {
    const err = await prepareLaunch(request("unreachable", "a".repeat(64), () => Promise.reject(new Error("no source bundle aaaa")))).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SpawnError);
    expect((err as Error).message).toBe("cannot fetch the run's source bundle aaaaaaaaaaaa: no source bundle aaaa");
    await expect(prepareLaunch(request("nofetch", "a".repeat(64)))).rejects.toThrow(/cannot fetch it/);
  });
});
