/**
 * Whether a database error means "the database is not there right now" (retry
 * later) rather than "this query is wrong". Decided here, once, at the edge of
 * the driver: the API turns it into UNAVAILABLE, the agent service into a
 * reconnect, /readyz into 503.
 */

/**
 * SQLSTATE codes PostgreSQL sends when it cannot serve this connection now:
 * class 08 (connection exception) is matched by prefix; 57P01 admin shutdown,
 * 57P02 crash shutdown, 57P03 cannot connect now (starting up or shutting
 * down); 53300 too many connections.
 */
const SQLSTATE_UNAVAILABLE = new Set(["57P01", "57P02", "57P03", "53300"]);

/** Node's errno codes for a server that cannot be reached (pg passes socket errors through). */
const ERRNO_UNAVAILABLE = new Set(["ECONNREFUSED", "ECONNRESET", "EPIPE", "ETIMEDOUT", "EHOSTUNREACH", "ENETUNREACH", "ENOTFOUND", "EAI_AGAIN"]);

/**
 * pg (8.x) makes these with `new Error(text)`: no code, no class of their own,
 * so the text is all there is (pg/lib/client.js, pg-pool/index.js). Exact
 * strings, compared here only; if pg ever adds codes, drop this list.
 * PGlite needs none: it runs in this process, has no connection to lose, and
 * its query errors carry SQLSTATE codes like the server's.
 */
const PG_CONNECTION_LOST = new Set([
  "Connection terminated",
  "Connection terminated unexpectedly",
  "Connection terminated due to connection timeout",
  "timeout exceeded when trying to connect",
  "Client has encountered a connection error and is not queryable",
]);

/** True when `err` (or one of its causes) says the database cannot be reached or is restarting. */
export function isDatabaseUnavailable(err: unknown): boolean {
  for (let e = err, depth = 0; e && typeof e === "object" && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === "string" && (code.startsWith("08") || SQLSTATE_UNAVAILABLE.has(code) || ERRNO_UNAVAILABLE.has(code))) return true;
    if (e instanceof Error && e.constructor === Error && PG_CONNECTION_LOST.has(e.message)) return true;
  }
  return false;
}
