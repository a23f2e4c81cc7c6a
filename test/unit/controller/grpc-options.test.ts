import { connect as tcpConnect, type Socket } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import * as grpc from "@grpc/grpc-js";
import { createGrpcServer, enforceHandshakeTimeout, SERVER_OPTIONS } from "../../../controller/grpc-options.js";
import { ControlClient } from "../../../cli/client.js";
import { ControlServiceService } from "../../../proto/gen/hodei/v1/control.js";
import { eventually } from "../../helpers/procs.js";

let server: grpc.Server | undefined;
afterEach(() => server?.forceShutdown());

describe("the controller's gRPC server options", () => {
  it("set keepalive and idle limits grpc-js reads, and keep agents' keepalive pings allowed", () => {
    expect(SERVER_OPTIONS["grpc.keepalive_time_ms"]).toBeGreaterThan(0);
    expect(SERVER_OPTIONS["grpc.keepalive_timeout_ms"]).toBeGreaterThan(0);
    // An idle timeout shorter than the agents' ping interval would still be fine (their stream is a call),
    // but it must not be so short that a CLI between two calls keeps reconnecting.
    expect(SERVER_OPTIONS["grpc.max_connection_idle_ms"]).toBeGreaterThanOrEqual(60_000);
    // grpc-js's server enforces no ping policy; setting one it ignores would only mislead.
    expect(SERVER_OPTIONS).not.toHaveProperty("grpc.http2.max_ping_strikes");
  });

  it("close a connection that never sends its HTTP/2 preface, and leave real clients alone", async () => {
    server = createGrpcServer({ handshakeTimeoutMs: 200 });
    server.addService(ControlServiceService, {
      listAgents: (_call: unknown, cb: (err: null, res: { agents: [] }) => void) => cb(null, { agents: [] }),
    } as unknown as grpc.UntypedServiceImplementation);
    const port = await new Promise<number>((resolve, reject) =>
      server!.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
    );
    const closed = new Set<Socket>();
    const sockets = Array.from({ length: 10 }, (_, i) => {
      const s = tcpConnect(port, "127.0.0.1");
      s.on("error", () => {});
      s.on("close", () => closed.add(s));
      if (i % 2) s.write("PRI * HTTP/2.0\r\n\r\nSM\r\n"); // half a preface
      return s;
    });
    const client = new ControlClient(`127.0.0.1:${port}`);
    try {
      // Not a timing assertion: the bound only ends a broken test.
      await eventually(() => (closed.size === sockets.length ? true : undefined), "the server to close every preface-less socket", 20_000);
      expect((await client.listAgents()).agents).toEqual([]);
      await new Promise((r) => setTimeout(r, 600)); // three handshake timeouts on an established channel
      expect((await client.listAgents()).agents).toEqual([]);
    } finally {
      client.close();
      for (const s of sockets) s.destroy();
    }
  });

  it("fails loudly on a server without the private method it wraps", () => {
    expect(() => enforceHandshakeTimeout({} as grpc.Server, 1000)).toThrow(/createHttp2Server/);
  });
});
