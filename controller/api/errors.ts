/**
 * gRPC errors are made here, once: handlers throw ApiError (or anything) and
 * toServiceError maps it to a status code plus the Hodei metadata
 * (proto/wire-errors.ts): its kind and whether a retry may succeed. A
 * database outage becomes "unavailable, retryable". Anything else unexpected
 * is logged here in full under a correlation id, and the client gets only
 * that id: internals (SQL, stack, paths) never cross the wire.
 */
import { randomUUID } from "node:crypto";
import { status, type ServiceError } from "@grpc/grpc-js";
import type { Logger } from "pino";
import { KIND_CODE, toWire, type ErrorKind } from "../../proto/wire-errors.js";
import { isDatabaseUnavailable } from "../store/errors.js";

// The agent service and the liveness sweep classify database errors too; they import it from here.
export { isDatabaseUnavailable };

export class ApiError extends Error {
  readonly code: status;
  readonly retryable: boolean;

  constructor(
    readonly kind: ErrorKind,
    message: string,
    options: { code?: status; retryable?: boolean; cause?: unknown } = {},
  ) {
    super(message, { cause: options.cause });
    this.name = "ApiError";
    this.code = options.code ?? KIND_CODE[kind];
    this.retryable = options.retryable ?? kind === "unavailable";
  }
}

export const notFound = (what: string): ApiError => new ApiError("not_found", `${what} not found`);
export const invalid = (msg: string): ApiError => new ApiError("invalid", msg);
/** The request clashes with the state of things (FAILED_PRECONDITION), or with an earlier request (ALREADY_EXISTS). */
export const conflict = (msg: string, code: status = status.FAILED_PRECONDITION): ApiError => new ApiError("conflict", msg, { code });
/** Well formed but not allowed; FAILED_PRECONDITION when the job's own settings forbid it (no caller could). */
export const notAllowed = (msg: string, code: status = status.PERMISSION_DENIED): ApiError => new ApiError("permission", msg, { code });

/** The status for `err`; `method` names the call in the log line of an internal error. */
export function toServiceError(err: unknown, log: Logger, method = ""): Partial<ServiceError> {
  if (err instanceof ApiError) return toWire({ code: err.code, kind: err.kind, retryable: err.retryable, message: err.message });
  if (isDatabaseUnavailable(err)) {
    log.warn({ err, method }, "database unavailable");
    return toWire({ code: status.UNAVAILABLE, kind: "unavailable", retryable: true, message: "the controller's database is unavailable; retry shortly" });
  }
  const correlationId = randomUUID();
  log.error({ err, method, correlationId }, "internal error");
  return toWire({
    code: status.INTERNAL,
    kind: "internal",
    retryable: false,
    correlationId,
    message: `internal error (correlation id ${correlationId}); see the controller's log`,
  });
}
