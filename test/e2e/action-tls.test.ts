/**
 * The Action's `ca` input against a controller serving TLS (certificates of
 * `hodei certs init`): the CA as a file in the workspace and as PEM text (as
 * from a secret) both run a job over real TLS on loopback; without it the step
 * fails at once saying what to give.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { hodeiJson, startAgent, startController, tempDir, type ControllerProc, type Proc } from "../helpers/procs.js";
import { runAction, step, workspace } from "../helpers/action.js";

const home = tempDir("hodei-action-tls-");
const certs = join(home, "certs");
let controller: ControllerProc;
let agent: Proc;
const ws = workspace({ ".hodei/jobs/hello.yaml": "apiVersion: hodei.dev/v1\nkind: Job\nmetadata: { name: hello }\nspec:\n  run: echo hello over tls\n" });

beforeAll(async () => {
  await hodeiJson(["certs", "init", "--out", certs]);
  controller = await startController({ dataDir: join(home, "db") }, ["--tls-cert", join(certs, "server.crt"), "--tls-key", join(certs, "server.key")], { clientCa: join(certs, "ca.crt") });
  agent = await startAgent(controller, { name: "tls-action-agent", extra: ["--ca", join(certs, "ca.crt")] });
}, 120_000);

afterAll(async () => {
  await agent?.stop();
  await controller?.stop();
});

describe("the Action over TLS", { timeout: 120_000 }, () => {
  const inputs = (extra: Record<string, string>) => ({ controller: controller.address, token: process.env.HODEI_ADMIN_TOKEN!, job: "hello", ...extra });

  it("with the CA as PEM text (as from a secret), and as a file path", async () => {
    const pem = readFileSync(join(certs, "ca.crt"), "utf8");
    const asText = await runAction(step(ws.dir), inputs({ ca: pem }));
    expect(asText.code, asText.stdout).toBe(0);
    expect(asText.stdout).toContain("hello over tls\n");
    const asFile = await runAction(step(ws.dir), inputs({ ca: join(certs, "ca.crt") }));
    expect(asFile.code, asFile.stdout).toBe(0);
  });

  it("without it: a failed step that says to give the ca input", async () => {
    const r = await runAction(step(ws.dir), inputs({}));
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/::error::cannot reach the Hodei controller at .*it closed the connection without answering.*"ca" input/);
  });
});
