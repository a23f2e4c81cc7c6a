/**
 * `hodei controller --config FILE`: repositories a deployment declares, known
 * from the start, updated by name on the next start; a broken config refuses
 * to start with FILE:LINE:COL.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { createTestDatabase } from "../helpers/db.js";
import { eventually, hodei, hodeiJson, startController, tempDir } from "../helpers/procs.js";
import { createRepo, jobYaml } from "../helpers/git.js";

let db: Awaited<ReturnType<typeof createTestDatabase>>;
const dir = tempDir("hodei-config-");

beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(() => db?.drop());

type Repo = { name: string; url: string; branch: string; webhookSecret: boolean; token: boolean; pollIntervalMs: number; jobs: number };

describe("hodei controller --config", { timeout: 240_000 }, () => {
  it("registers the config's repositories at start and syncs them; a restart with a changed config updates them by name", async () => {
    const repo = createRepo();
    repo.commit({ ".hodei/a.yaml": jobYaml("a", "run: echo a") });
    writeFileSync(join(dir, "hook-secret"), "s3cret\n");
    const config = join(dir, "hodei.yaml");
    writeFileSync(config, `apiVersion: hodei.dev/v1\nkind: ControllerConfig\nrepos:\n  - name: web\n    url: ${repo.dir}\n    webhookSecretFile: hook-secret\n    pollInterval: 0\n`);
    let c = await startController({ databaseUrl: db.url }, ["--config", config, "--mirrors-dir", join(dir, "m")]);
    try {
      const env = { HODEI_CONTROLLER: c.address };
      const web = await eventually(async () => (await hodeiJson<{ repos: Repo[] }>(["repos", "ls"], { env })).repos.find((r) => r.jobs === 1), "the config's repo to sync");
      expect(web).toMatchObject({ name: "web", url: repo.dir, branch: "main", webhookSecret: true, token: false, pollIntervalMs: 0 });
      // Added by hand meanwhile: kept across the restart.
      expect((await hodei(["repos", "add", repo.dir, "--name", "by-hand", "--no-sync"], { env })).code).toBe(0);
    } finally {
      await c.stop();
    }
    writeFileSync(config, `apiVersion: hodei.dev/v1\nkind: ControllerConfig\nrepos:\n  - name: web\n    url: ${repo.dir}\n    branch: release\n    pollInterval: 30s\n`);
    c = await startController({ databaseUrl: db.url }, ["--config", config, "--mirrors-dir", join(dir, "m")]);
    try {
      const repos = (await hodeiJson<{ repos: Repo[] }>(["repos", "ls"], { env: { HODEI_CONTROLLER: c.address } })).repos;
      expect(repos.map((r) => r.name)).toEqual(["by-hand", "web"]);
      expect(repos.find((r) => r.name === "web")).toMatchObject({ branch: "release", pollIntervalMs: 30_000, webhookSecret: false });
    } finally {
      await c.stop();
    }
  });

  it("refuses a broken config with every problem as FILE:LINE:COL, and starts nothing (exit 2)", async () => {
    const cases: [string, RegExp][] = [
      ["apiVersion: hodei.dev/v1\nkind: ControllerConfig\nrepos:\n  - url: /x\n    colour: blue\n", /hodei\.yaml:5:5: unknown field "colour"/],
      ["apiVersion: hodei.dev/v1\nkind: ControllerConfig\nrepos:\n  - name: Web\n    url: /x\n", /hodei\.yaml:4:11: .*(pattern|must match)/i],
      ["apiVersion: hodei.dev/v1\nkind: ControllerConfig\nrepos:\n  - url: /x\n    pollInterval: 60\n", /hodei\.yaml:5:19: .*got 60/],
      ["apiVersion: hodei.dev/v1\nkind: ControllerConfig\nrepos: [ {url: /x\n", /hodei\.yaml:4:1: Flow map in block collection must be sufficiently indented/],
      ["kind: Job\n", /hodei\.yaml:1:1: .*apiVersion/],
      ["apiVersion: hodei.dev/v1\nkind: ControllerConfig\nrepos:\n  - url: ftp://x/y\n", /unsupported URL scheme/],
      ["apiVersion: hodei.dev/v1\nkind: ControllerConfig\nrepos:\n  - url: /x\n    tokenFile: missing-token\n", /cannot read the token file .*missing-token: ENOENT/],
      ["apiVersion: hodei.dev/v1\nkind: ControllerConfig\nrepos:\n  - {url: /a/x}\n  - {url: /b/x}\n", /the name x is used twice/],
    ];
    for (const [text, message] of cases) {
      const file = join(tempDir("hodei-badconfig-"), "hodei.yaml");
      writeFileSync(file, text);
      const r = await hodei(["controller", "--database-url", db.url, "--listen", "127.0.0.1:0", "--config", file]);
      expect({ text, code: r.code, stderr: r.stderr }).toEqual({ text, code: 2, stderr: expect.stringMatching(message) });
    }
    const missing = await hodei(["controller", "--database-url", db.url, "--listen", "127.0.0.1:0", "--config", join(dir, "nope.yaml")]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain("cannot read the config file");
  });
});
