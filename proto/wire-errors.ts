/**
 * How a Hodei error travels over gRPC, shared by the controller (which sends
 * it), the CLI and the agent (which read it). Imports nothing of Hodei.
 *
 * An error is a gRPC status code plus three trailing-metadata entries:
 *
 *   hodei-error-kind       what went wrong, for deciding what to do (ErrorKind)
 *   hodei-retryable        "true" when the same request may succeed later
 *   hodei-correlation-id   an internal error's id in the controller's log
 *
 * The status details are a sentence for people; nothing decides anything
 * from them. An error without hodei-error-kind did not come from a Hodei
 * handler: grpc-js made it (no connection, deadline) or an older peer did;
 * its kind and retryability are then guessed from the status code.
 */
import { Metadata, status, type ServiceError } from "@grpc/grpc-js";

export const WIRE_KEYS = {
  kind: "hodei-error-kind",
  retryable: "hodei-retryable",
  correlationId: "hodei-correlation-id",
} as const;

/**
 * - unavailable: the controller (or its database) cannot serve now; retry.
 * - not_found: the run or agent named does not exist.
 * - invalid: the request is wrong (a bad job document, an over-long key).
 * - conflict: the request clashes with what exists (a reused idempotency key,
 *   a run already ended, an agent name already connected).
 * - permission: the request is well formed but not allowed (a job with
 *   `triggers.manual: false`, a missing role).
 * - internal: a bug or an unexpected failure; details are in the controller's
 *   log under the correlation id, never on the wire.
 */
export type ErrorKind = "unavailable" | "not_found" | "invalid" | "conflict" | "permission" | "internal";

export const ERROR_KINDS: readonly ErrorKind[] = ["unavailable", "not_found", "invalid", "conflict", "permission", "internal"];

/** The status code each kind is sent with unless the error names another. */
export const KIND_CODE: Record<ErrorKind, status> = {
  unavailable: status.UNAVAILABLE,
  not_found: status.NOT_FOUND,
  invalid: status.INVALID_ARGUMENT,
  conflict: status.ALREADY_EXISTS,
  permission: status.PERMISSION_DENIED,
  internal: status.INTERNAL,
};

export interface WireError {
  code: status;
  kind: ErrorKind;
  retryable: boolean;
  /** For people. */
  message: string;
  correlationId?: string;
}

/** The error as grpc-js sends it (a unary callback's error, or a stream's emitted 'error'). */
export function toWire(e: WireError): Partial<ServiceError> {
  const metadata = new Metadata();
  metadata.set(WIRE_KEYS.kind, e.kind);
  metadata.set(WIRE_KEYS.retryable, String(e.retryable));
  if (e.correlationId) metadata.set(WIRE_KEYS.correlationId, e.correlationId);
  return { code: e.code, details: e.message, metadata };
}

/** What a received error means; `fromHodei` is false when no Hodei handler produced it. */
export function fromWire(err: Pick<ServiceError, "code" | "details" | "message"> & { metadata?: Metadata }): WireError & { fromHodei: boolean } {
  const md = err.metadata;
  const first = (key: string): string | undefined => {
    const v = md?.get(key)[0];
    return typeof v === "string" ? v : undefined;
  };
  const sentKind = first(WIRE_KEYS.kind);
  const kind = ERROR_KINDS.find((k) => k === sentKind);
  const sentRetryable = first(WIRE_KEYS.retryable);
  return {
    code: err.code,
    kind: kind ?? kindOfCode(err.code),
    retryable: sentRetryable === undefined ? retryableCode(err.code) : sentRetryable === "true",
    message: err.details || err.message,
    correlationId: first(WIRE_KEYS.correlationId),
    fromHodei: kind !== undefined,
  };
}

/** The kind of a status that came without hodei-error-kind. */
export function kindOfCode(code: status): ErrorKind {
  switch (code) {
    case status.UNAVAILABLE:
    case status.DEADLINE_EXCEEDED:
      return "unavailable";
    case status.NOT_FOUND:
      return "not_found";
    case status.INVALID_ARGUMENT:
    case status.OUT_OF_RANGE:
      return "invalid";
    case status.ALREADY_EXISTS:
    case status.ABORTED:
    case status.FAILED_PRECONDITION:
      return "conflict";
    case status.PERMISSION_DENIED:
    case status.UNAUTHENTICATED:
      return "permission";
    default:
      return "internal";
  }
}

/**
 * Following gRPC's status guide: UNAVAILABLE and DEADLINE_EXCEEDED may pass
 * if sent again, ABORTED if the whole operation is retried (for us, the call).
 * RESOURCE_EXHAUSTED is not: grpc-js uses it for a message over the size limit.
 */
export function retryableCode(code: status): boolean {
  return code === status.UNAVAILABLE || code === status.DEADLINE_EXCEEDED || code === status.ABORTED;
}
