/**
 * The controller's HTTP listener (`--http`): one server whose routes are
 * given to it. Its own are health, for load balancers and orchestrators:
 *   GET /healthz  200 while the process serves (liveness)
 *   GET /readyz   200 when the database answers within 2 s, 503 otherwise (readiness)
 * Others (the webhooks, controller/gitops/webhooks.ts) are passed in by
 * server.ts. A route that throws answers 500 and leaves the server serving.
 * With the controller's TLS certificate and key it serves HTTPS instead
 * (never asking for client certificates: webhooks come from GitHub).
 */
import { createServer, type IncomingMessage, type RequestListener, type Server, type ServerResponse } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import type { AddressInfo } from "node:net";
import { sql } from "kysely";
import type { Db } from "./store/db.js";

const READY_TIMEOUT_MS = 2_000;

/** Handles the request and returns true, or returns false: not its path. `path` has no query. */
export interface HttpRoute {
  /** The paths it serves, for the 404 answer's list. */
  readonly paths: readonly string[];
  handle(req: IncomingMessage, res: ServerResponse, path: string): boolean | Promise<boolean>;
}

export function replyJson(res: ServerResponse, code: number, body: Record<string, unknown>, headers: Record<string, string> = {}): void {
  if (res.headersSent) return;
  res.writeHead(code, { "content-type": "application/json", ...headers }).end(JSON.stringify(body) + "\n");
}

export async function databaseReady(db: Db): Promise<{ ok: boolean; error?: string }> {
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      sql`select 1`.execute(db),
      new Promise((_, reject) => (timer = setTimeout(() => reject(new Error(`no answer within ${READY_TIMEOUT_MS} ms`)), READY_TIMEOUT_MS))),
    ]);
    return { ok: true };
  } catch (err) {
    return { ok: false, error: (err as Error).message };
  } finally {
    clearTimeout(timer);
  }
}

export function healthRoute(db: Db): HttpRoute {
  return {
    paths: ["/healthz", "/readyz"],
    handle(req, res, path) {
      if (path !== "/healthz" && path !== "/readyz") return false;
      if (req.method !== "GET" && req.method !== "HEAD") {
        replyJson(res, 405, { error: "only GET" }, { allow: "GET, HEAD" });
        return true;
      }
      if (path === "/healthz") replyJson(res, 200, { status: "ok" });
      else void databaseReady(db).then((r) => replyJson(res, r.ok ? 200 : 503, r.ok ? { status: "ready" } : { status: "not ready", database: r.error }));
      return true;
    },
  };
}

export async function startHttp(
  db: Db,
  host: string,
  port: number,
  routes: readonly HttpRoute[] = [],
  tls?: { cert: Buffer; key: Buffer },
): Promise<{ address: string; close(): Promise<void> }> {
  const all = [healthRoute(db), ...routes];
  const serve: RequestListener = (req, res) => {
    const path = (req.url ?? "/").split("?")[0]!;
    void (async () => {
      for (const r of all) if (await r.handle(req, res, path)) return;
      replyJson(res, 404, { error: "not found", paths: all.flatMap((r) => r.paths) });
    })().catch(() => {
      replyJson(res, 500, { error: "internal error" }, { connection: "close" });
    });
  };
  const server: Server = tls ? createHttpsServer({ cert: tls.cert, key: tls.key, handshakeTimeout: 10_000 }, serve) : createServer(serve);
  server.headersTimeout = 10_000;
  server.requestTimeout = 10_000;
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => resolve());
  });
  const a = server.address() as AddressInfo;
  return {
    address: `${a.family === "IPv6" ? `[${a.address}]` : a.address}:${a.port}`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve()).closeAllConnections()),
  };
}
