/**
 * Health over HTTP, for load balancers and orchestrators:
 *   GET /healthz  200 while the process serves (liveness)
 *   GET /readyz   200 when the database answers within 2 s, 503 otherwise (readiness)
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { sql } from "kysely";
import type { Db } from "./store/db.js";

const READY_TIMEOUT_MS = 2_000;

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

export async function startHttp(db: Db, host: string, port: number): Promise<{ address: string; close(): Promise<void> }> {
  const server: Server = createServer((req, res) => {
    const reply = (code: number, body: Record<string, unknown>): void => {
      res.writeHead(code, { "content-type": "application/json" }).end(JSON.stringify(body) + "\n");
    };
    if (req.method !== "GET" && req.method !== "HEAD") return reply(405, { error: "only GET" });
    const path = (req.url ?? "/").split("?")[0];
    if (path === "/healthz") return reply(200, { status: "ok" });
    if (path === "/readyz") {
      void databaseReady(db).then((r) => reply(r.ok ? 200 : 503, r.ok ? { status: "ready" } : { status: "not ready", database: r.error }));
      return;
    }
    reply(404, { error: "not found", paths: ["/healthz", "/readyz"] });
  });
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
