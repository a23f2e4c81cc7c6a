/**
 * Contexts and `hodei doctor` from the built `hodei`, against real
 * controllers: the config file is 0600 in a 0700 folder and holds no token;
 * which controller is used follows flags > environment > context; a
 * context's token goes only to its own controller; doctor against a healthy
 * controller, an unreachable one and a bad token, saying what to fix.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { createTestDatabase, type TestDatabase } from "../helpers/db.js";
import { hodei, startAgent, startController, tempDir, type ControllerProc, type Proc } from "../helpers/procs.js";
import { assertShape } from "../helpers/cli-schemas.js";

let db: TestDatabase;
let a: ControllerProc;
let b: ControllerProc;
let agent: Proc;
const dir = tempDir("hodei-ctx-");
const tokenFile = join(dir, "admin.token");
let config: string;
/** No HODEI_CONTROLLER, no token in the environment: only what the context says. */
const bare = (extra: NodeJS.ProcessEnv = {}): { env: NodeJS.ProcessEnv } => ({ env: { HODEI_CONFIG_DIR: config, HODEI_CONTROLLER: "", HODEI_TOKEN: "", HODEI_TOKEN_FILE: "", HODEI_CA: "", ...extra } });

/** The agent names a controller lists: which controller answered. */
async function agentsSeen(args: string[], opts: { env: NodeJS.ProcessEnv }): Promise<string[]> {
  const r = await hodei(["agents", "ls", "--json", ...args], opts);
  expect(r.code, r.stderr).toBe(0);
  return (JSON.parse(r.stdout.toString()) as { agents: { name: string }[] }).agents.map((x) => x.name);
}

beforeAll(async () => {
  config = join(dir, "config");
  writeFileSync(tokenFile, `${process.env.HODEI_ADMIN_TOKEN}\n`, { mode: 0o600 });
  db = await createTestDatabase();
  // Two controllers on their own data: which one answered shows in its agents.
  a = await startController({ databaseUrl: db.url });
  b = await startController({ dataDir: join(dir, "b-data") });
  agent = await startAgent(a, { name: "agent-of-a", slots: 1 });
}, 180_000);

afterAll(async () => {
  await agent?.stop();
  await a?.stop();
  await b?.stop();
  await db?.drop();
});

describe("hodei context", { timeout: 180_000 }, () => {
  it("add writes the config 0600 in a 0700 folder, with paths and no token; the first becomes current", async () => {
    const add = await hodei(["context", "add", "a", "--controller", a.address, "--token-file", tokenFile, "--json"], bare());
    expect(add.code, add.stderr).toBe(0);
    const out = JSON.parse(add.stdout.toString()) as Record<string, unknown>;
    assertShape("context-add", out);
    expect(out).toMatchObject({ name: "a", controller: a.address, tokenFile, current: true, replaced: false });
    const file = join(config, "config.json");
    expect(out.file).toBe(file);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(statSync(config).mode & 0o777).toBe(0o700);
    expect(readFileSync(file, "utf8")).not.toContain(process.env.HODEI_ADMIN_TOKEN!);
    const addB = await hodei(["context", "add", "b", "--controller", b.address, "--token-file", tokenFile], bare());
    expect(addB.stdout.toString()).toContain("use it with hodei context use b");
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const ls = await hodei(["context", "ls"], bare());
    expect(ls.stdout.toString()).toMatch(/^CURRENT\s+NAME\s+CONTROLLER/);
    expect(ls.stdout.toString()).toMatch(/\*\s+a\s/);
  });

  it("the current context is used with no flags or environment; use switches it", async () => {
    expect(await agentsSeen([], bare())).toEqual(["agent-of-a"]);
    const use = await hodei(["context", "use", "b", "--json"], bare());
    assertShape("context-use", JSON.parse(use.stdout.toString()));
    expect(await agentsSeen([], bare())).toEqual([]); // b has no agents
    expect((await hodei(["context", "use", "a"], bare())).code).toBe(0);
  });

  it("precedence: --controller over HODEI_CONTROLLER over the context", async () => {
    // Context a; HODEI_CONTROLLER names b: the environment wins.
    expect(await agentsSeen([], bare({ HODEI_CONTROLLER: b.address, HODEI_TOKEN: process.env.HODEI_ADMIN_TOKEN }))).toEqual([]);
    // And --controller a wins over HODEI_CONTROLLER b.
    expect(await agentsSeen(["--controller", a.address], bare({ HODEI_CONTROLLER: b.address, HODEI_TOKEN: process.env.HODEI_ADMIN_TOKEN }))).toEqual(["agent-of-a"]);
    // HODEI_TOKEN over the context's token file: a wrong one is refused.
    const wrong = await hodei(["agents", "ls"], bare({ HODEI_TOKEN: "hodei_0000000000000000000000000000000000000000000" }));
    expect(wrong.code).toBe(5);
  });

  it("a context's token is not sent to a controller named by the environment", async () => {
    // HODEI_CONTROLLER=b with no token of its own: b refuses (no token), rather than receiving a's.
    const r = await hodei(["agents", "ls"], bare({ HODEI_CONTROLLER: b.address }));
    expect(r.code).toBe(5);
  });

  it("bad input: an unknown context, a bad name, a missing token file, a broken config file", async () => {
    const [unknown, badName, noFile] = await Promise.all([
      hodei(["context", "use", "nope"], bare()),
      hodei(["context", "add", "../evil", "--controller", "x"], bare()),
      hodei(["context", "add", "c", "--controller", "x", "--token-file", join(dir, "missing")], bare()),
    ]);
    expect(unknown.code).toBe(4);
    expect(unknown.stderr).toContain("there are: a, b");
    expect(badName.code).toBe(2);
    expect(noFile.code).toBe(2);
    const brokenDir = tempDir("hodei-ctx-broken-");
    writeFileSync(join(brokenDir, "config.json"), "{ not json");
    const broken = await hodei(["runs", "ls"], bare({ HODEI_CONFIG_DIR: brokenDir }));
    expect(broken.code).toBe(2);
    expect(broken.stderr).toContain("is not valid JSON");
  });

  it("rm forgets a context; removing the current one leaves none current", async () => {
    const rm = await hodei(["context", "rm", "b", "--json"], bare());
    assertShape("context-rm", JSON.parse(rm.stdout.toString()));
    const ls = JSON.parse((await hodei(["context", "ls", "--json"], bare())).stdout.toString()) as Record<string, unknown>;
    assertShape("context-ls", ls);
    expect(ls).toMatchObject({ current: "a", contexts: [{ name: "a", current: true }] });
  });
});

describe("hodei doctor", { timeout: 180_000 }, () => {
  const checks = (out: string): Record<string, { status: string; detail: string; fix: string | null }> => {
    const parsed = JSON.parse(out) as Record<string, unknown>;
    assertShape("doctor", parsed);
    return Object.fromEntries((parsed.checks as { name: string; status: string; detail: string; fix: string | null }[]).map((c) => [c.name, c]));
  };

  it("a healthy controller (from the context): every check ok, exit 0", async () => {
    const r = await hodei(["doctor", "--json"], bare());
    expect(r.code, r.stdout.toString()).toBe(0);
    const c = checks(r.stdout.toString());
    expect(c.controller).toMatchObject({ status: "ok", detail: expect.stringContaining("context a") });
    expect(c.tls).toMatchObject({ status: "ok", detail: "plaintext, to a loopback address" });
    expect(c.token).toMatchObject({ status: "ok", detail: expect.stringContaining("(admin") });
    expect(c.database!.status).toBe("ok");
    expect(c.agents).toMatchObject({ status: "ok", detail: expect.stringContaining("agent-of-a") });
    const human = await hodei(["doctor"], bare());
    expect(human.stdout.toString()).toMatch(/✔ controller/);
    expect(human.stdout.toString()).toContain("no problems found");
  });

  it("an unreachable controller: exit 3, says what to do, skips the rest", async () => {
    const r = await hodei(["doctor", "--json", "--controller", "127.0.0.1:1"], bare());
    expect(r.code).toBe(3);
    const c = checks(r.stdout.toString());
    expect(c.controller).toMatchObject({ status: "fail", detail: expect.stringContaining("connection refused"), fix: expect.stringContaining("hodei controller") });
    expect([c.token!.status, c.database!.status, c.agents!.status]).toEqual(["skip", "skip", "skip"]);
    const human = await hodei(["doctor", "--controller", "127.0.0.1:1"], bare());
    expect(human.code).toBe(3);
    expect(human.stdout.toString()).toMatch(/✘ controller .*connection refused/);
    expect(human.stdout.toString()).toContain("fix: ");
  });

  it("a bad token: exit 5, names where the token came from and how to get one", async () => {
    const r = await hodei(["doctor", "--json"], bare({ HODEI_TOKEN: "hodei_0000000000000000000000000000000000000000000" }));
    expect(r.code).toBe(5);
    const c = checks(r.stdout.toString());
    expect(c.controller!.status).toBe("ok");
    expect(c.token).toMatchObject({ status: "fail", detail: expect.stringContaining("HODEI_TOKEN"), fix: expect.stringContaining("hodei tokens create") });
    expect(c.database!.status).toBe("skip");
  });

  it("no agent connected is a warning, not a failure: exit 0", async () => {
    const r = await hodei(["doctor", "--json", "--controller", b.address], bare({ HODEI_TOKEN: process.env.HODEI_ADMIN_TOKEN }));
    expect(r.code).toBe(0);
    expect(checks(r.stdout.toString()).agents).toMatchObject({ status: "warn", fix: expect.stringContaining("hodei agent") });
  });

  it("TLS: a controller serving TLS is ok with its CA; another CA fails (exit 3) and says to give the right one", async () => {
    const home = tempDir("hodei-doctor-tls-");
    for (const out of ["certs", "other"]) expect((await hodei(["certs", "init", "--out", join(home, out), "--hosts", "127.0.0.1"])).code).toBe(0);
    const tls = await startController({ dataDir: join(home, "data") }, ["--tls-cert", join(home, "certs/server.crt"), "--tls-key", join(home, "certs/server.key")], { clientCa: join(home, "certs/ca.crt") });
    try {
      const withToken = bare({ HODEI_TOKEN: process.env.HODEI_ADMIN_TOKEN });
      const good = await hodei(["doctor", "--json", "--controller", tls.address, "--ca", join(home, "certs/ca.crt")], withToken);
      expect(good.code, good.stdout.toString()).toBe(0);
      expect(checks(good.stdout.toString()).tls).toMatchObject({ status: "ok", detail: expect.stringContaining("TLS, trusting the CA") });
      const wrong = await hodei(["doctor", "--json", "--controller", tls.address, "--ca", join(home, "other/ca.crt")], withToken);
      expect(wrong.code).toBe(3);
      const w = checks(wrong.stdout.toString());
      expect(w.controller).toMatchObject({ status: "fail", detail: expect.stringContaining("not signed by the CA"), fix: expect.stringContaining("ca.crt") });
      expect(w.tls!.status).toBe("skip");
      const plain = await hodei(["doctor", "--json", "--controller", tls.address], withToken);
      expect(plain.code).toBe(3);
      expect(checks(plain.stdout.toString()).controller!.fix).toContain("--ca");
    } finally {
      await tls.stop();
    }
  });
});
