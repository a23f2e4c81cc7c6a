/**
 * The CLI's errors. Commands throw these typed errors; exitCodeFor maps them
 * to the process exit code, in this one place, called by HodeiCommand.catch.
 *
 *   2    usage: bad flags, an invalid job file, a request the controller found invalid
 *   3    cannot reach the controller (or start the embedded one's connection)
 *   4    not found: the run or agent named does not exist
 *   125  any other failure of hodei itself, for every command (as `docker run`,
 *        so it cannot pass for the code of a job `hodei run` or
 *        `hodei logs --exit-status` passes on)
 *
 * `hodei validate` exits 1 when what it checked is invalid: that is its
 * answer, not a failure of hodei.
 *
 * `hodei run` also ends with the job's outcome: its exit code, 128+signal,
 * 124 on timeout (as timeout(1)), 130 when cancelled (exitCodeOf in run.ts).
 */
import type { ErrorKind } from "../proto/wire-errors.js";

export const EXIT = {
  /** Any other failure of hodei itself, for every command. */
  failure: 125,
  usage: 2,
  unreachable: 3,
  notFound: 4,
  /** The run ended by timeout (as timeout(1)). */
  timedOut: 124,
  /** hodei run itself failed (as docker run's 125). */
  hodei: 125,
  /** The run was cancelled (as a shell's SIGINT). */
  cancelled: 130,
} as const;

/** A failure of hodei itself; its message says what to do next. */
export class CliError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** The command line or the file it names is wrong. */
export class UsageError extends CliError {}

export class ControllerUnreachableError extends CliError {
  constructor(
    readonly address: string,
    detail: string,
    /** What to do, when more is known than that nothing answered (a TLS mismatch, cli/tls.ts). */
    options?: { cause?: unknown; advice?: string },
  ) {
    super(
      `cannot reach the controller at ${address} (${detail}).\n` +
        (options?.advice ?? `Is \`hodei controller\` running there? Set --controller or HODEI_CONTROLLER, or unset it to use the embedded controller.`),
      { cause: options?.cause },
    );
  }
}

/** The controller answered with an error: its kind and retryability came as data (proto/wire-errors.ts). */
export class ControllerError extends CliError {
  constructor(
    message: string,
    readonly kind: ErrorKind,
    readonly retryable: boolean,
    readonly correlationId?: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** The exit code for `err`; `otherFailure` is the code for a failure no other code covers (125). */
export function exitCodeFor(err: unknown, otherFailure: number = EXIT.failure): number {
  if (err instanceof UsageError) return EXIT.usage;
  if (err instanceof ControllerUnreachableError) return EXIT.unreachable;
  if (err instanceof ControllerError) {
    if (err.kind === "invalid") return EXIT.usage;
    if (err.kind === "not_found") return EXIT.notFound;
  }
  return otherFailure;
}
