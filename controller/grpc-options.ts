/**
 * The controller's gRPC server settings, in one place (docs/agent.md, "What
 * the controller accepts, and its side of the connection"). What grpc-js
 * 1.14's server reads, and what we give it:
 *
 * - message size: 16 MiB each way (agents cap log batches at ~1 MiB).
 * - keepalive: the server pings every connection each 60 s and closes one
 *   that does not answer within 20 s, so a peer that vanished without a FIN
 *   (a cut network, a frozen VM) is found even when it holds no call.
 * - idle: a connection with no call for 5 min is closed (GOAWAY). An agent's
 *   Connect stream is a call, so agents are never idle; a CLI reconnects.
 * - client pings: grpc-js's server has no ping policy (no
 *   `grpc.http2.min_ping_interval_without_data_ms`, no
 *   `grpc.http2.max_ping_strikes`: it reads neither) and Node's HTTP/2 answers
 *   every PING, so the agents' keepalive (every 30 s, also without calls;
 *   agent/connection.ts) is always permitted. Should a policy ever be
 *   enforced, it must allow pings every 30 s without calls.
 * - handshake: grpc-js has no handshake timeout, and Node's HTTP/2 server
 *   keeps a connection that never sends its preface open forever (200 such
 *   connections were held for 70 s and more). enforceHandshakeTimeout closes
 *   any session that has not received the client's preface (its SETTINGS
 *   frame) within `--handshake-timeout` (default 10 s).
 */
import * as grpc from "@grpc/grpc-js";
import type { Http2SecureServer, Http2Server, ServerHttp2Session } from "node:http2";
import type { Socket } from "node:net";
import { enableNoDelay } from "./nodelay.js";

/** Log batches are capped at ~1 MiB by agents; leave room, refuse worse. */
export const MAX_MESSAGE = 16 * 1024 * 1024;

export const SERVER_OPTIONS: grpc.ServerOptions = {
  "grpc.max_receive_message_length": MAX_MESSAGE,
  "grpc.max_send_message_length": MAX_MESSAGE,
  "grpc.keepalive_time_ms": 60_000,
  "grpc.keepalive_timeout_ms": 20_000,
  "grpc.max_connection_idle_ms": 5 * 60_000,
};

/** A grpc-js server with SERVER_OPTIONS, TCP_NODELAY and the handshake timeout. */
export function createGrpcServer(o: { handshakeTimeoutMs: number }): grpc.Server {
  const server = new grpc.Server(SERVER_OPTIONS);
  enableNoDelay(server);
  enforceHandshakeTimeout(server, o.handshakeTimeoutMs);
  return server;
}

type CreateHttp2Server = (credentials: grpc.ServerCredentials) => Http2Server | Http2SecureServer;

/**
 * Closes every connection that has not completed its HTTP/2 preface within
 * `timeoutMs`. grpc-js makes one Node HTTP/2 server per bound address in a
 * private method, createHttp2Server; we wrap it to watch each new session.
 * Node makes a session from an accepted socket ('connection', or
 * 'secureConnection' with TLS) and emits 'session' in the same synchronous
 * call, before reading a byte; a listener put in front of Node's own pairs the
 * raw socket with its session (session.socket refuses destroy()). With TLS
 * the session's socket is a TLSSocket, whose resetAndDestroy() throws (its
 * handle is not TCP; a timer throwing it once crashed the controller): the
 * TCP socket under it is found by its peer address, noted at 'connection'.
 * The TLS handshake before it is bounded by the credentials'
 * handshakeTimeout (controller/tls.ts). Call before bindAsync. If an upgrade
 * removes the method, fail loudly here rather than quietly keep idle sockets
 * forever.
 */
export function enforceHandshakeTimeout(server: grpc.Server, timeoutMs: number): void {
  const s = server as unknown as { createHttp2Server?: CreateHttp2Server };
  const create = s.createHttp2Server;
  if (typeof create !== "function") {
    throw new Error("@grpc/grpc-js no longer has Server.createHttp2Server; find another way to close connections without a preface (controller/grpc-options.ts)");
  }
  s.createHttp2Server = function (this: grpc.Server, credentials) {
    const http2Server = create.call(this, credentials);
    let accepted: Socket | undefined;
    // TLS only: TCP sockets between 'connection' and 'secureConnection', by peer address.
    const tcpByPeer = new Map<string, Socket>();
    const peer = (socket: Socket): string => `${socket.remoteAddress}|${socket.remotePort}`;
    const secure = "setSecureContext" in http2Server;
    http2Server.prependListener("connection", (socket: Socket) => {
      if (!secure) return void (accepted = socket);
      const key = peer(socket);
      tcpByPeer.set(key, socket);
      socket.once("close", () => tcpByPeer.get(key) === socket && tcpByPeer.delete(key));
    });
    http2Server.prependListener("secureConnection", (tls: Socket) => {
      const key = peer(tls);
      accepted = tcpByPeer.get(key);
      tcpByPeer.delete(key);
    });
    http2Server.on("session", (session: ServerHttp2Session) => {
      const socket = accepted;
      accepted = undefined;
      if (socket) closeWithoutPreface(session, socket, timeoutMs);
    });
    return http2Server;
  };
}

function closeWithoutPreface(session: ServerHttp2Session, socket: Socket, timeoutMs: number): void {
  // Neither session.destroy() nor socket.destroy() closes the connection while the HTTP/2 session holds
  // the socket's handle and waits to flush (a silent peer keeps it open for ever); a TCP reset does.
  const timer = setTimeout(() => {
    // Must not throw from a timer (it would end the process): a socket that is not TCP is destroyed instead.
    try {
      socket.resetAndDestroy();
    } catch {
      socket.destroy();
    }
  }, timeoutMs);
  timer.unref();
  const done = (): void => clearTimeout(timer);
  // The client preface is the magic string followed by a SETTINGS frame: its arrival completes it.
  session.once("remoteSettings", done);
  session.once("close", done);
  socket.once("close", done);
}
