/**
 * Access control end to end, as a deployer and its users meet it: a
 * controller started with no admin token writes one (0600) to its data dir and
 * logs where, never the token; the CLI uses it through HODEI_TOKEN_FILE to
 * create, list and revoke tokens; a viewer's token reads but cannot submit; no
 * token and a revoked token are refused with what to do; `hodei audit` shows
 * what happened.
 */
import { readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { hodei, hodeiJson, startController, tempDir, type ControllerProc } from "../helpers/procs.js";

let controller: ControllerProc;
let dataDir: string;
let logFile: string;

beforeAll(async () => {
  const dir = tempDir("hodei-tokens-");
  dataDir = join(dir, "data");
  logFile = join(dir, "controller.log");
  // No HODEI_ADMIN_TOKEN: the first start must make one.
  controller = await startController({ dataDir }, [], { logFile, env: { HODEI_ADMIN_TOKEN: "" } });
});

afterAll(async () => {
  await controller?.stop();
});

describe("tokens end to end", () => {
  let adminFile: string;
  const as = (env: Record<string, string>) => ({ env: { HODEI_CONTROLLER: controller.address, HODEI_TOKEN: "", HODEI_TOKEN_FILE: "", ...env } });

  it("the first start writes an admin token, mode 0600, to the data dir and logs where, not what", () => {
    adminFile = join(dataDir, "admin.token");
    expect(statSync(adminFile).mode & 0o777).toBe(0o600);
    const token = readFileSync(adminFile, "utf8").trim();
    expect(token).toMatch(/^hodei_[0-9A-Za-z]{43}$/);
    const log = readFileSync(logFile, "utf8");
    expect(log).toContain(adminFile);
    expect(log).not.toContain(token);
  });

  it("creates, lists and revokes tokens; a viewer reads but may not submit; refusals say what to do; audit shows it", async () => {
    const admin = as({ HODEI_TOKEN_FILE: adminFile });
    const made = await hodeiJson<{ token: string; name: string; role: string; prefix: string }>(["tokens", "create", "--name", "reader", "--role", "viewer", "--expires", "30d"], admin);
    expect(made).toMatchObject({ name: "reader", role: "viewer" });
    expect(made.token.startsWith(made.prefix)).toBe(true);
    const plain = await hodei(["tokens", "create", "--name", "ci", "--role", "submitter", "--project", "web"], admin);
    expect(plain.code).toBe(0);
    const ciToken = plain.stdout.toString().trim();
    expect(ciToken).toMatch(/^hodei_/);
    expect(plain.stderr).toContain("shown only now");

    const ls = await hodei(["tokens", "ls"], admin);
    expect(ls.code).toBe(0);
    expect(ls.stdout.toString()).toContain("reader");
    expect(ls.stdout.toString()).not.toContain(made.token);
    expect(ls.stdout.toString()).not.toContain(ciToken);

    const reader = as({ HODEI_TOKEN: made.token });
    expect((await hodei(["runs", "ls"], reader)).code).toBe(0);
    const denied = await hodei(["run", "-d", "examples/hello/.hodei/jobs/hello.yaml"], reader);
    expect(denied.code).not.toBe(0);
    expect(denied.stderr).toContain("needs the submitter role");

    const anonymous = await hodei(["runs", "ls"], as({}));
    expect(anonymous.code).not.toBe(0);
    expect(anonymous.stderr).toContain("HODEI_TOKEN");
    expect(anonymous.stderr).toContain("hodei tokens create");

    const submitted = await hodeiJson<{ id: string; project: string; submittedBy: string }>(["run", "-d", "examples/hello/.hodei/jobs/hello.yaml"], as({ HODEI_TOKEN: ciToken }));
    expect(submitted).toMatchObject({ project: "web", submittedBy: "ci" });

    expect((await hodei(["tokens", "revoke", "reader"], admin)).code).toBe(0);
    const revoked = await hodei(["runs", "ls"], reader);
    expect(revoked.code).not.toBe(0);
    expect(revoked.stderr).toContain("revoked");

    const audit = await hodeiJson<{ entries: { actor: string; action: string; target: string; outcome: string }[] }>(["audit", "--since", "1h"], admin);
    const seen = audit.entries.map((e) => `${e.actor} ${e.action} ${e.target} ${e.outcome}`);
    expect(seen).toContain("admin token.create token reader allowed");
    expect(seen).toContain("admin token.revoke token reader allowed");
    expect(seen).toContain("reader run.submit ControlService.SubmitRun denied");
    expect(seen).toContain("reader auth ControlService.ListRuns denied");
    expect(seen).toContain(`ci run.submit run ${submitted.id} allowed`);
    const onlyCi = await hodeiJson<{ entries: { actor: string }[] }>(["audit", "--actor", "ci"], admin);
    expect(new Set(onlyCi.entries.map((e) => e.actor))).toEqual(new Set(["ci"]));
    const notAdmin = await hodei(["audit"], as({ HODEI_TOKEN: ciToken }));
    expect(notAdmin.stderr).toContain("needs the admin role");
  });
});
