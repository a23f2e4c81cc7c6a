/**
 * TLS end to end, as an operator sets it up (docs/security.md, "TLS"): the
 * files of `hodei certs init`, a controller serving TLS with a client CA,
 * agents and the CLI dialing it over real TLS on loopback, the agents that
 * must be refused, and the refusal of plaintext on a non-loopback address.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { spawn } from "node:child_process";
import { X509Certificate, createPrivateKey } from "node:crypto";
import { readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { HODEI, ROOT, eventually, hodei, hodeiJson, startAgent, startController, tempDir, type ControllerProc, type Proc } from "../helpers/procs.js";
import type { CertsInitJson } from "../../cli/commands/certs/init.js";

const home = tempDir("hodei-tls-");
const certs = join(home, "certs");
const other = join(home, "other-certs");
const f = (name: string): string => join(certs, name);
let init: CertsInitJson;
let controller: ControllerProc;
let agent: Proc;
const spawned: Proc[] = [];

beforeAll(async () => {
  init = await hodeiJson<CertsInitJson>(["certs", "init", "--out", certs, "--hosts", "ci.example.com,10.1.2.3", "--agent", "builder", "--agent", "spare"]);
  await hodeiJson(["certs", "init", "--out", other]);
  controller = await startController({ dataDir: join(home, "db") }, ["--tls-cert", f("server.crt"), "--tls-key", f("server.key"), "--tls-client-ca", f("ca.crt")], {
    clientCa: f("ca.crt"),
  });
  agent = await startAgent(controller, { name: "tls-agent", extra: ["--ca", f("ca.crt"), "--cert", f("agent-builder.crt"), "--key", f("agent-builder.key")] });
}, 120_000);

afterAll(async () => {
  for (const p of spawned) await p.stop();
  await agent?.stop();
  await controller?.stop();
});

/** `hodei agent` with `args`, its log in a file; not waited on. */
function spawnAgent(name: string, args: string[]): Proc & { log: () => string } {
  const dir = tempDir("hodei-tls-agent-");
  const logFile = join(dir, "agent.log");
  let out = "";
  const p = spawn(process.execPath, [HODEI, "agent", "--controller", controller.address, "--name", name, "--work-dir", join(dir, "work"), ...args], {
    stdio: ["ignore", "ignore", "pipe"],
    env: { ...process.env, HODEI_CONTROLLER: "" },
  });
  p.stderr!.on("data", (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((resolve) => p.on("exit", (code) => resolve(code)));
  const proc = {
    proc: p,
    logFile,
    exited,
    log: () => out,
    stop: async () => {
      if (p.exitCode === null && p.signalCode === null) p.kill("SIGKILL");
      return exited;
    },
  };
  spawned.push(proc);
  return proc;
}

describe("hodei certs init", () => {
  it("writes a CA, a controller certificate and one per agent: keys 0600, certificates 0644, all chaining to the CA", () => {
    const ca = new X509Certificate(readFileSync(f("ca.crt")));
    expect(ca.ca).toBe(true);
    expect(statSync(certs).mode & 0o777).toBe(0o700);
    for (const name of ["ca", "server", "agent-builder", "agent-spare"]) {
      expect(statSync(f(`${name}.key`)).mode & 0o777, name).toBe(0o600);
      expect(statSync(f(`${name}.crt`)).mode & 0o777, name).toBe(0o644);
      const cert = new X509Certificate(readFileSync(f(`${name}.crt`)));
      expect(cert.verify(ca.publicKey), `${name} is signed by the CA`).toBe(true);
      expect(cert.checkPrivateKey(createPrivateKey(readFileSync(f(`${name}.key`)))), `${name}.key is its key`).toBe(true);
      // Not signed by the other CA: the check can fail.
      expect(cert.verify(new X509Certificate(readFileSync(join(other, "ca.crt"))).publicKey)).toBe(false);
    }
    const server = new X509Certificate(readFileSync(f("server.crt")));
    for (const h of ["localhost", "ci.example.com"]) expect(server.checkHost(h), h).toBe(h);
    for (const ip of ["127.0.0.1", "::1", "10.1.2.3"]) expect(server.checkIP(ip), ip).toBe(ip);
    expect(server.checkHost("evil.example.com")).toBeUndefined();
    expect(server.keyUsage).toContain("1.3.6.1.5.5.7.3.1"); // serverAuth
    expect(new X509Certificate(readFileSync(f("agent-builder.crt"))).keyUsage).toContain("1.3.6.1.5.5.7.3.2"); // clientAuth
    expect(init.agents.map((a) => a.name)).toEqual(["builder", "spare"]);
    expect(init.server.hosts).toEqual(expect.arrayContaining(["localhost", "127.0.0.1", "::1", "ci.example.com", "10.1.2.3"]));
  });

  it("refuses to overwrite what exists (changing nothing), and replaces it with --force", async () => {
    const before = readFileSync(f("ca.key"));
    const r = await hodei(["certs", "init", "--out", certs]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`refusing to overwrite ${f("ca.crt")}`);
    expect(r.stderr).toContain("--force");
    expect(readFileSync(f("ca.key"))).toEqual(before);
    const dir = tempDir("hodei-tls-force-");
    writeFileSync(join(dir, "ca.key"), "old", { mode: 0o644 });
    expect((await hodei(["certs", "init", "--out", dir, "--force"])).code).toBe(0);
    expect(statSync(join(dir, "ca.key")).mode & 0o777).toBe(0o600);
    expect(readFileSync(join(dir, "ca.key"), "utf8")).toContain("PRIVATE KEY");
  });

  it("refuses hostile names and hosts with a usage error, writing nothing", async () => {
    const dir = join(tempDir("hodei-tls-bad-"), "out");
    for (const args of [["--agent", "../../etc/passwd"], ["--agent", ".hidden"], ["--hosts", "a b"], ["--hosts", "x".repeat(300)], ["--agent", "a", "--agents", "2"], ["--agent", "a", "--agent", "a"]]) {
      const r = await hodei(["certs", "init", "--out", dir, ...args]);
      expect(r.code, args.join(" ")).toBe(2);
      expect(r.stderr, args.join(" ")).toMatch(/--agent|--hosts|--agents/);
    }
    expect(() => statSync(dir)).toThrow();
  });
});

describe("a controller serving TLS, with client certificates required of agents", () => {
  it("runs a job end to end: agent over mutual TLS, `hodei run --controller ... --ca ...` over TLS", async () => {
    const r = await hodei(["run", "examples/hello/.hodei/jobs/hello.yaml", "--controller", controller.address, "--ca", f("ca.crt")]);
    expect(r.stderr).not.toContain("DeprecationWarning");
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.toString()).toMatch(/hello/i);
    const { agents } = await controller.client.listAgents();
    expect(agents.find((a) => a.name === "tls-agent")?.state).toBe("connected");
    // HODEI_CA works as --ca does.
    const ls = await hodeiJson<{ agents: { name: string }[] }>(["agents", "ls", "--controller", controller.address], { env: { HODEI_CA: f("ca.crt") } });
    expect(ls.agents.map((a) => a.name)).toContain("tls-agent");
  });

  it("refuses an agent without a client certificate, one signed by another CA, and one made for a server, saying why in the agent's log", async () => {
    const cases = {
      "no-cert": ["--ca", f("ca.crt")],
      "other-ca": ["--ca", f("ca.crt"), "--cert", join(other, "agent-1.crt"), "--key", join(other, "agent-1.key")],
      "server-cert": ["--ca", f("ca.crt"), "--cert", f("server.crt"), "--key", f("server.key")],
    };
    const agents = Object.entries(cases).map(([name, args]) => ({ name, a: spawnAgent(name, args) }));
    for (const { name, a } of agents) {
      await eventually(() => (a.log().includes("requires agents to present a client certificate signed by its client CA") ? true : undefined), `${name} to log the refusal`);
      expect(a.log(), name).toContain("the controller refused this agent");
      expect(a.log(), name).toContain("--cert and --key");
    }
    const { agents: listed } = await controller.client.listAgents();
    for (const name of Object.keys(cases)) expect(listed.map((x) => x.name)).not.toContain(name);
    expect(readFileSync(controller.logFile, "utf8")).toContain("refused an agent call: no valid client certificate");
    for (const { a } of agents) await a.stop();
  });

  it("tells a CLI without --ca, or with the wrong CA, what is wrong instead of printing grpc's text; exit 3", async () => {
    const plain = await hodei(["agents", "ls", "--controller", controller.address]);
    expect(plain.code).toBe(3);
    expect(plain.stderr).toContain("If it serves TLS");
    expect(plain.stderr).toContain("--ca");
    expect(plain.stderr).not.toMatch(/No connection established|Last error|Resolution note/);
    const wrong = await hodei(["agents", "ls", "--controller", controller.address, "--ca", join(other, "ca.crt")]);
    expect(wrong.code).toBe(3);
    expect(wrong.stderr).toContain("its certificate is not signed by the CA given with --ca");
    const missing = await hodei(["agents", "ls", "--controller", controller.address, "--ca", join(home, "nope.crt")]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain(`--ca: cannot read ${join(home, "nope.crt")}: no such file`);
  });

  it("a CLI with --ca against a plaintext controller is told it does not speak TLS", async () => {
    const plain = await startController({ dataDir: join(home, "db-plain") });
    try {
      const r = await hodei(["agents", "ls", "--controller", plain.address, "--ca", f("ca.crt")]);
      expect(r.code).toBe(3);
      expect(r.stderr).toContain("it does not speak TLS");
    } finally {
      await plain.stop();
    }
  });
});

describe("plaintext only on loopback", () => {
  it("refuses to listen on a non-loopback address without TLS (exit 2, saying what to do), and starts with --insecure, warning", async () => {
    const db = join(home, "db-insecure");
    for (const listen of ["0.0.0.0:0", "[::]:0"]) {
      const r = await hodei(["controller", "--data-dir", db, "--listen", listen]);
      expect(r.code, listen).toBe(2);
      expect(r.stderr).toContain("refusing to serve gRPC in plaintext");
      expect(r.stderr).toContain("--tls-cert");
      expect(r.stderr).toContain("--insecure");
    }
    const http = await hodei(["controller", "--data-dir", db, "--http", "0.0.0.0:0"]);
    expect(http.code).toBe(2);
    expect(http.stderr).toContain("refusing to serve HTTP in plaintext");
    const insecure = await startController({ dataDir: db }, ["--insecure"], { listen: "0.0.0.0:0" });
    try {
      // The log file is written as the controller's stderr arrives: wait for the line rather than race it.
      const warned = (): true | undefined => (readFileSync(insecure.logFile, "utf8").includes("--insecure: serving gRPC WITHOUT TLS on a non-loopback address") ? true : undefined);
      await eventually(warned, "the --insecure warning in the controller's log");
      const port = insecure.address.split(":").pop();
      expect((await hodeiJson<{ agents: unknown[] }>(["agents", "ls", "--controller", `127.0.0.1:${port}`])).agents).toEqual([]);
    } finally {
      await insecure.stop();
    }
  });

  it("serves TLS on a non-loopback address without --insecure, and HTTPS on --http", async () => {
    const c = await startController({ dataDir: join(home, "db-wide") }, ["--tls-cert", f("server.crt"), "--tls-key", f("server.key")], { listen: "0.0.0.0:0", http: true, clientCa: f("ca.crt") });
    try {
      expect(readFileSync(c.logFile, "utf8")).not.toContain("WITHOUT TLS");
      const port = c.address.split(":").pop();
      const r = await hodeiJson<{ agents: unknown[] }>(["agents", "ls", "--controller", `localhost:${port}`, "--ca", f("ca.crt")]);
      expect(r.agents).toEqual([]);
      const httpPort = c.httpAddress!.split(":").pop();
      const https = await import("node:https");
      const status = await new Promise<number | undefined>((resolve, reject) =>
        https.get({ host: "127.0.0.1", port: Number(httpPort), path: "/healthz", ca: readFileSync(f("ca.crt")) }, (res) => (res.resume(), resolve(res.statusCode))).on("error", reject),
      );
      expect(status).toBe(200);
    } finally {
      await c.stop();
    }
  });

  it("refuses TLS files that are missing, mismatched or not PEM before opening the database (exit 2)", async () => {
    const db = join(home, "db-badfiles");
    const bad = join(home, "not-pem.crt");
    writeFileSync(bad, "hello");
    const cases: [string[], string][] = [
      [["--tls-cert", f("server.crt")], "give --tls-cert and --tls-key together"],
      [["--tls-client-ca", f("ca.crt")], "--tls-client-ca needs --tls-cert and --tls-key"],
      [["--tls-cert", join(home, "nope.crt"), "--tls-key", f("server.key")], "cannot read --tls-cert"],
      [["--tls-cert", bad, "--tls-key", f("server.key")], "is not a PEM certificate"],
      [["--tls-cert", f("server.crt"), "--tls-key", f("agent-builder.key")], "is not the key of the certificate"],
      [["--tls-cert", f("server.crt"), "--tls-key", f("server.key"), "--tls-client-ca", f("agent-builder.crt")], "is not a CA certificate"],
    ];
    for (const [args, message] of cases) {
      const r = await hodei(["controller", "--data-dir", db, "--listen", "127.0.0.1:0", ...args], { cwd: ROOT });
      expect(r.code, args.join(" ")).toBe(2);
      expect(r.stderr, args.join(" ")).toContain(message);
    }
    expect(() => statSync(db)).toThrow(); // no database was made
  });
});
