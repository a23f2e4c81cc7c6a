import type * as grpc from "@grpc/grpc-js";

/**
 * grpc-js creates its HTTP/2 server without TCP_NODELAY (its client side sets
 * it), so every small server write (a LogAck, a live log chunk to a follower)
 * waited for Nagle and the peer's delayed ACK: tens of milliseconds a line.
 * grpc-js hands `commonServerOptions` to http2.createServer, which passes
 * `noDelay` on to net.Server. It is a private field: if an upgrade removes it,
 * fail loudly here rather than quietly getting slow again.
 */
export function enableNoDelay(server: grpc.Server): void {
  const common = (server as unknown as { commonServerOptions?: Record<string, unknown> }).commonServerOptions;
  if (!common || typeof common !== "object") {
    throw new Error("@grpc/grpc-js no longer has Server.commonServerOptions; find another way to set TCP_NODELAY (controller/nodelay.ts)");
  }
  common.noDelay = true;
}
