/**
 * Error mapping: each error kind round-trips client ↔ server with its
 * retryability; an internal error shows no internals to the client.
 *
 * A tiny ControlService on a loopback port whose handlers throw what the test
 * asks for, mapped by the real toServiceError; the CLI's real ControlClient
 * translates what comes back, and exitCodeFor turns that into the exit code.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Writable } from "node:stream";
import * as grpc from "@grpc/grpc-js";
import { pino } from "pino";
import { ControlServiceService, type ControlServiceServer } from "../../../proto/gen/hodei/v1/control.js";
import { ApiError, conflict, invalid, notAllowed, notFound, toServiceError } from "../../../controller/api/errors.js";
import { ControlClient } from "../../../cli/client.js";
import { ControllerError, ControllerUnreachableError, EXIT, UsageError, CliError, exitCodeFor } from "../../../cli/errors.js";
import { WIRE_KEYS, type ErrorKind } from "../../../proto/wire-errors.js";

const SECRET = "password=hunter2 in /srv/hodei/secret.sql";

/** What the handlers throw, by the run id the client asks for. */
const THROWN: Record<string, () => unknown> = {
  not_found: () => notFound("run 42"),
  invalid: () => invalid("limit must be positive"),
  conflict: () => conflict("run 7 already ended (succeeded)"),
  permission: () => notAllowed("job x has triggers.manual: false", grpc.status.FAILED_PRECONDITION),
  unavailable: () => new ApiError("unavailable", "draining; try another controller"),
  // pg's error when PostgreSQL is restarting: SQLSTATE 57P03, with internals in the message.
  database: () => Object.assign(new Error(`the database system is starting up (${SECRET})`), { code: "57P03" }),
  // A bug: its message, stack and cause must stay on the server.
  internal: () => new TypeError(`cannot read properties of undefined (${SECRET})`, { cause: new Error(SECRET) }),
};

const EXPECTED: Record<string, { kind: ErrorKind; retryable: boolean; code: grpc.status; exit: number; message: RegExp }> = {
  not_found: { kind: "not_found", retryable: false, code: grpc.status.NOT_FOUND, exit: 4, message: /^run 42 not found$/ },
  invalid: { kind: "invalid", retryable: false, code: grpc.status.INVALID_ARGUMENT, exit: 2, message: /^limit must be positive$/ },
  // The exit codes of docs/cli-conventions.md: 1 a refused (conflicting) request, 5 permission denied, 3 a controller that cannot serve.
  conflict: { kind: "conflict", retryable: false, code: grpc.status.FAILED_PRECONDITION, exit: 1, message: /already ended/ },
  permission: { kind: "permission", retryable: false, code: grpc.status.FAILED_PRECONDITION, exit: 5, message: /triggers\.manual: false/ },
  unavailable: { kind: "unavailable", retryable: true, code: grpc.status.UNAVAILABLE, exit: 3, message: /^draining; try another controller$/ },
  database: { kind: "unavailable", retryable: true, code: grpc.status.UNAVAILABLE, exit: 3, message: /^the controller's database is unavailable; retry shortly$/ },
  internal: { kind: "internal", retryable: false, code: grpc.status.INTERNAL, exit: 125, message: /^internal error \(correlation id [0-9a-f-]{36}\); see the controller's log$/ },
};

let server: grpc.Server;
let client: ControlClient;
let logged = "";
const submits = new Map<string, number>();

beforeAll(async () => {
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      logged += chunk.toString();
      done();
    },
  });
  const log = pino({ level: "info" }, sink);
  const fail = (id: string): unknown => (THROWN[id] ?? (() => new Error(`no case ${id}`)))();
  const impl: Partial<ControlServiceServer> = {
    getRun: (call, cb) => cb(toServiceError(fail(call.request.runId), log, "GetRun")),
    submitRun: (call, cb) => {
      const id = call.request.source;
      submits.set(id, (submits.get(id) ?? 0) + 1);
      cb(toServiceError(fail(id), log, "SubmitRun"));
    },
    streamLogs: (call) => {
      call.emit("error", toServiceError(fail(call.request.runId), log, "StreamLogs"));
    },
  };
  server = new grpc.Server();
  server.addService(ControlServiceService, impl as ControlServiceServer);
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
  );
  client = new ControlClient(`127.0.0.1:${port}`);
});

afterAll(async () => {
  client?.close();
  await new Promise<void>((resolve) => server?.tryShutdown(() => resolve()));
});

async function rejection(p: Promise<unknown>): Promise<ControllerError> {
  const err = await p.then(
    () => new Error("the call succeeded"),
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ControllerError);
  return err as ControllerError;
}

describe("error mapping", () => {
  it.each(Object.keys(EXPECTED))("%s round-trips with its kind, retryability and exit code (unary)", async (id) => {
    const want = EXPECTED[id]!;
    const err = await rejection(client.getRun(id));
    expect({ kind: err.kind, retryable: err.retryable }).toEqual({ kind: want.kind, retryable: want.retryable });
    expect(err.message).toMatch(want.message);
    expect((err.cause as grpc.ServiceError).code).toBe(want.code);
    expect(exitCodeFor(err, EXIT.hodei)).toBe(want.exit);
    // One mapping for every command (distinct from a job's own code, which only `hodei run` returns).
    expect(exitCodeFor(err)).toBe(want.exit);
  });

  it.each(["not_found", "invalid", "conflict", "internal"])("%s round-trips the same way on a stream (StreamLogs)", async (id) => {
    const err = await rejection(client.followLogs(id, { follow: false }, () => {}));
    expect({ kind: err.kind, retryable: err.retryable }).toEqual({ kind: EXPECTED[id]!.kind, retryable: EXPECTED[id]!.retryable });
    expect(err.message).toMatch(EXPECTED[id]!.message);
  });

  it("the client retries a submit only when the error says it may (same idempotency key each time)", async () => {
    await rejection(client.submitRun({ jobJson: "{}", source: "database", idempotencyKey: "k" }));
    await rejection(client.submitRun({ jobJson: "{}", source: "conflict", idempotencyKey: "k" }));
    await rejection(client.submitRun({ jobJson: "{}", source: "internal", idempotencyKey: "k" }));
    expect(Object.fromEntries(submits)).toEqual({ database: 5, conflict: 1, internal: 1 });
  });

  it("an internal error shows no internals to the client; the server logs them under the correlation id", async () => {
    logged = "";
    const err = await rejection(client.getRun("internal"));
    const raw = err.cause as grpc.ServiceError;
    const id = raw.metadata.get(WIRE_KEYS.correlationId)[0];
    expect(err.correlationId).toBe(id);
    // Nothing of the thrown error reaches the client: not in the details, not in any metadata.
    const everything = JSON.stringify({ details: raw.details, message: raw.message, metadata: raw.metadata.getMap() });
    expect(everything).not.toContain("hunter2");
    expect(everything).not.toContain("TypeError");
    expect(Object.keys(raw.metadata.getMap()).filter((k) => k.startsWith("hodei-")).sort()).toEqual([WIRE_KEYS.correlationId, WIRE_KEYS.kind, WIRE_KEYS.retryable]);
    // The controller's log has it all, findable by the id the user was given.
    const line = logged.split("\n").map((l) => (l ? (JSON.parse(l) as Record<string, unknown>) : {})).find((l) => l.correlationId === id);
    expect(line).toMatchObject({ level: 50, msg: "internal error", method: "GetRun" });
    expect(JSON.stringify(line)).toContain("hunter2");
    expect(JSON.stringify(line)).toContain("TypeError");
  });

  it("a status with no Hodei metadata: UNAVAILABLE from grpc-js means the controller is out of reach (exit 3); others keep their code's kind", () => {
    const bare = (code: grpc.status, details: string): grpc.ServiceError => Object.assign(new Error(details), { code, details, metadata: new grpc.Metadata() });
    const unreachable = client.translate(bare(grpc.status.UNAVAILABLE, "No connection established"));
    expect(unreachable).toBeInstanceOf(ControllerUnreachableError);
    expect(exitCodeFor(unreachable, EXIT.hodei)).toBe(3);
    expect(exitCodeFor(client.translate(bare(grpc.status.DEADLINE_EXCEEDED, "Deadline exceeded")))).toBe(3);
    const missing = client.translate(bare(grpc.status.NOT_FOUND, "gone")) as ControllerError;
    expect({ kind: missing.kind, retryable: missing.retryable }).toEqual({ kind: "not_found", retryable: false });
  });

  it("the CLI's own errors map in the same place: usage 2, other failures 125", () => {
    expect(exitCodeFor(new UsageError("bad flag"), EXIT.hodei)).toBe(2);
    expect(exitCodeFor(new CliError("embedded controller would not start"), EXIT.hodei)).toBe(125);
    expect(exitCodeFor(new CliError("embedded controller would not start"))).toBe(125);
  });
});
