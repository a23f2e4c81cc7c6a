/**
 * gRPC errors are made here, once: handlers throw ApiError (or anything) and
 * toServiceError maps it, including database outages, to a status a client
 * can act on.
 */
import { status, type ServiceError, Metadata } from "@grpc/grpc-js";

export class ApiError extends Error {
  constructor(
    readonly code: status,
    message: string,
  ) {
    super(message);
    this.name = "ApiError";
  }
}

export const notFound = (what: string): ApiError => new ApiError(status.NOT_FOUND, `${what} not found`);
export const invalid = (msg: string): ApiError => new ApiError(status.INVALID_ARGUMENT, msg);

const DB_DOWN = new Set(["ECONNREFUSED", "ECONNRESET", "57P01", "57P02", "57P03", "08000", "08003", "08006"]);

/** pg's ways of saying the server is gone or restarting (codes, and messages without one). */
export function isDatabaseUnavailable(err: unknown): boolean {
  const code = (err as { code?: string }).code;
  if (code && DB_DOWN.has(code)) return true;
  const msg = err instanceof Error ? err.message : "";
  return /Connection terminated|connect ECONNREFUSED|timeout exceeded when trying to connect|the database system is (starting up|shutting down)|Client has encountered a connection error/i.test(msg);
}

export function toServiceError(err: unknown): Partial<ServiceError> {
  if (err instanceof ApiError) return { code: err.code, details: err.message, metadata: new Metadata() };
  if (isDatabaseUnavailable(err)) {
    return { code: status.UNAVAILABLE, details: "the controller's database is unavailable; retry shortly" };
  }
  return { code: status.INTERNAL, details: `internal error: ${err instanceof Error ? err.message : String(err)}` };
}
