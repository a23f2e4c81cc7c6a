/**
 * The controller's TLS listener, in-process over loopback: the handshake
 * timeout with TLS (a peer that finishes the TLS handshake and then sends
 * nothing once crashed the controller: its socket is a TLSSocket, whose
 * resetAndDestroy() throws), and mutual TLS for AgentService calls only.
 */
import { afterEach, describe, expect, it } from "vitest";
import { connect as tcpConnect } from "node:net";
import { connect as tlsConnect, type TLSSocket } from "node:tls";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as grpc from "@grpc/grpc-js";
import { pino } from "pino";
import { createGrpcServer } from "../../../controller/grpc-options.js";
import { loadServerTls, serverCredentials } from "../../../controller/tls.js";
import { issue, makeCa } from "../../../cli/certs.js";
import { ControlServiceService } from "../../../proto/gen/hodei/v1/control.js";
import { AgentServiceClient, AgentServiceService } from "../../../proto/gen/hodei/v1/agent.js";
import { ControlClient } from "../../../cli/client.js";
import { fromWire } from "../../../proto/wire-errors.js";
import { eventually } from "../../helpers/procs.js";

let server: grpc.Server | undefined;
afterEach(() => server?.forceShutdown());

const dir = mkdtempSync(join(tmpdir(), "hodei-tls-unit-"));
async function files() {
  const ca = await makeCa("test CA", 1);
  const otherCa = await makeCa("other CA", 1);
  const srv = await issue(ca, { name: "server", purpose: "server", hosts: ["localhost", "127.0.0.1"], days: 1 });
  const agent = await issue(ca, { name: "agent", purpose: "client", days: 1 });
  const stranger = await issue(otherCa, { name: "stranger", purpose: "client", days: 1 });
  const w = (name: string, data: string): string => {
    writeFileSync(join(dir, name), data, { mode: 0o600 });
    return join(dir, name);
  };
  w("ca.crt", ca.pem.cert);
  return { ca: ca.pem.cert, srv, agent, stranger, certFile: w("server.crt", srv.cert), keyFile: w("server.key", srv.key), clientCaFile: w("ca.crt", ca.pem.cert) };
}

async function listen(creds: grpc.ServerCredentials, handshakeTimeoutMs = 10_000): Promise<number> {
  server = createGrpcServer({ handshakeTimeoutMs });
  server.addService(ControlServiceService, {
    listAgents: (_call: unknown, cb: (err: null, res: { agents: [] }) => void) => cb(null, { agents: [] }),
  } as unknown as grpc.UntypedServiceImplementation);
  server.addService(AgentServiceService, {
    fetchSource: (call: grpc.ServerWritableStream<unknown, unknown>) => call.end(),
  } as unknown as grpc.UntypedServiceImplementation);
  return new Promise<number>((resolve, reject) => server!.bindAsync("127.0.0.1:0", creds, (err, p) => (err ? reject(err) : resolve(p))));
}

const log = pino({ level: "silent" });

describe("the controller's TLS listener", () => {
  it("closes a connection that finishes the TLS handshake but never sends its HTTP/2 preface, or never starts TLS, and keeps serving", async () => {
    const f = await files();
    const tls = await loadServerTls({ certFile: f.certFile, keyFile: f.keyFile });
    const port = await listen(serverCredentials(tls, { handshakeTimeoutMs: 200, log }), 200);
    const closed: string[] = [];
    const silent: TLSSocket = tlsConnect({ port, host: "127.0.0.1", ca: f.ca, servername: "localhost", ALPNProtocols: ["h2"] });
    silent.on("error", () => {});
    silent.on("close", () => closed.push("tls"));
    const raw = tcpConnect(port, "127.0.0.1");
    raw.on("error", () => {});
    raw.on("close", () => closed.push("tcp"));
    await eventually(() => (closed.length === 2 ? true : undefined), "both idle connections to be closed", 20_000);
    const client = new ControlClient(`127.0.0.1:${port}`, grpc.credentials.createSsl(Buffer.from(f.ca)));
    try {
      expect((await client.listAgents()).agents).toEqual([]);
    } finally {
      client.close();
    }
  });

  it("with a client CA: AgentService needs a client certificate from that CA made for clients; ControlService needs none", async () => {
    const f = await files();
    const tls = await loadServerTls(f);
    const port = await listen(serverCredentials(tls, { handshakeTimeoutMs: 10_000, log }));
    const fetch = (creds: grpc.ChannelCredentials): Promise<grpc.ServiceError | undefined> =>
      new Promise((resolve) => {
        const c = new AgentServiceClient(`localhost:${port}`, creds);
        const call = c.fetchSource({ digest: "x" });
        call.on("data", () => {});
        call.on("error", (e: grpc.ServiceError) => (c.close(), resolve(e)));
        call.on("end", () => (c.close(), resolve(undefined)));
      });
    const ca = Buffer.from(f.ca);
    const pair = (p: { cert: string; key: string }) => grpc.credentials.createSsl(ca, Buffer.from(p.key), Buffer.from(p.cert));
    expect(await fetch(pair(f.agent))).toBeUndefined();
    for (const [what, creds] of [["no certificate", grpc.credentials.createSsl(ca)], ["another CA's", pair(f.stranger)], ["a server certificate", pair(f.srv)]] as const) {
      const err = await fetch(creds);
      expect(err?.code, what).toBe(grpc.status.UNAUTHENTICATED);
      expect(fromWire(err!).kind, what).toBe("permission");
      expect(err?.details, what).toContain("--cert and --key");
    }
    const cli = new ControlClient(`localhost:${port}`, grpc.credentials.createSsl(ca));
    try {
      expect((await cli.listAgents()).agents).toEqual([]);
    } finally {
      cli.close();
    }
  });
});
