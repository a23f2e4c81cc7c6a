/**
 * `hodei run` with no controller configured: the embedded daemon (a controller
 * on PGlite under HODEI_DATA_DIR and a local agent), as a newcomer gets it.
 * More on the daemon itself in daemon.test.ts.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { hodei, hodeiJson, tempDir } from "../helpers/procs.js";

describe("hodei run on the embedded default", () => {
  const dataDir = tempDir("hodei-embedded-");
  const env = { HODEI_DATA_DIR: dataDir };
  const others: string[] = [];
  // The first command starts the daemon (a fresh PGlite cluster: slow on a busy machine).
  beforeAll(async () => {
    expect((await hodei(["runs", "ls"], { env, timeoutMs: 110_000 })).code).toBe(0);
  });
  afterAll(async () => {
    for (const d of [dataDir, ...others]) await hodei(["embedded", "stop"], { env: { HODEI_DATA_DIR: d } });
  });

  it("runs the hello example and exits 0", async () => {
    const r = await hodei(["run", "examples/hello/.hodei/jobs/hello.yaml"], { env });
    expect(r.stderr).not.toMatch(/Error/);
    expect(r.code).toBe(0);
    expect(r.stdout.toString()).toMatch(/hello/i);
    expect(existsSync(join(dataDir, "db"))).toBe(true);
  });

  it("exits 3 for the failing example, and keeps earlier runs in the same data dir", async () => {
    const r = await hodei(["run", "examples/hello/.hodei/jobs/fail.yaml"], { env });
    expect(r.code).toBe(3);
    const { runs } = await hodeiJson<{ runs: { job: string; state: string; exitCode: number | null }[] }>(["runs", "ls"], { env });
    expect(runs.map((x) => [x.job, x.state, x.exitCode])).toEqual([
      ["fail", "failed", 3],
      ["hello", "succeeded", 0],
    ]);
  });

  it("lets a second hodei share the running embedded daemon instead of opening the same files", async () => {
    const [a, b] = await Promise.all([
      hodei(["run", "test/fixtures/jobs/sleepy.yaml"], { env }),
      new Promise((r) => setTimeout(r, 300)).then(() => hodei(["run", "examples/hello/.hodei/jobs/hello.yaml"], { env })),
    ]);
    expect([a.code, b.code, a.stderr.replace(/^hodei: run \d+\n/, "") + b.stderr.replace(/^hodei: run \d+\n/, "")]).toEqual([0, 0, ""]);
    expect(a.stdout.toString()).toContain("on sleepy attempt 1");
    const { runs } = await hodeiJson<{ runs: { job: string; state: string }[] }>(["runs", "ls", "--limit", "2"], { env });
    expect(runs.map((x) => x.state)).toEqual(["succeeded", "succeeded"]);
    expect(readFileSync(join(dataDir, "controller.log"), "utf8")).toContain("controller listening");
  });

  it("refuses a job with triggers.manual: false, naming the field, with exit code 5 (permission denied)", async () => {
    const dir = tempDir();
    others.push(join(dir, "data"));
    const file = join(dir, "scheduled.yaml");
    writeFileSync(file, "apiVersion: hodei.dev/v1\nkind: Job\nmetadata: { name: scheduled-only }\nspec:\n  run: echo never\n  triggers: { manual: false, schedule: ['0 * * * *'] }\n");
    const r = await hodei(["run", file], { env: { HODEI_DATA_DIR: join(dir, "data") } });
    expect(r.code).toBe(5);
    expect(r.stdout.toString()).toBe("");
    expect(r.stderr).toContain("job scheduled-only has triggers.manual: false, so it cannot be submitted by hand or through the API");
    const json = await hodeiJson<{ error: { kind: string; exitCode: number } }>(["run", file], { env: { HODEI_DATA_DIR: join(dir, "data") } });
    expect(json.error).toMatchObject({ kind: "permission", exitCode: 5 });
  }, 150_000);

  it("refuses an invalid file with its line numbers and exit code 2, before starting anything", async () => {
    const dir = tempDir();
    const file = join(dir, "broken.yaml");
    writeFileSync(file, "apiVersion: hodei.dev/v1\nkind: Job\nmetadata: { name: broken }\nspec:\n  run: echo hi\n  tiemout: 10m\n");
    const r = await hodei(["run", file], { env: { HODEI_DATA_DIR: join(dir, "data") } });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`${file}:6:3: unknown field "tiemout"`);
    expect(existsSync(join(dir, "data"))).toBe(false);
  });
});
