/**
 * The CLI's errors and its one table of exit codes (docs/cli-conventions.md).
 * Commands throw these typed errors; exitCodeFor maps them to the process
 * exit code, in this one place, called by HodeiCommand.catch.
 *
 *   0    ok
 *   1    a job, a check or a request failed: `hodei validate` found errors,
 *        `jobs match` matched nothing, the controller refused a request that
 *        conflicts with what exists (a name taken, a limit reached)
 *   2    usage: bad flags, an invalid job file, a request the controller found invalid
 *   3    cannot reach the controller, or it cannot serve now (its database is down)
 *   4    not found: the run, agent, repository, token or secret named does not exist
 *   5    permission denied: no token, a bad or revoked token, a role too small
 *   124  the run timed out (as timeout(1))
 *   125  any other failure of hodei itself, for every command (as `docker run`,
 *        so it cannot pass for the code of a job `hodei run` or
 *        `hodei logs --exit-status` passes on)
 *   130  the run was cancelled (as a shell's SIGINT)
 *
 * `hodei run` ends with the job's outcome instead: its exit code, 128+signal,
 * 124 on timeout, 130 when cancelled (exitCodeOf in commands/run.ts).
 */
import type { ErrorKind } from "../proto/wire-errors.js";

export const EXIT = {
  ok: 0,
  /** A job, a check or a request failed (validate found errors, a conflict). */
  failed: 1,
  /** Any other failure of hodei itself, for every command. */
  failure: 125,
  usage: 2,
  unreachable: 3,
  notFound: 4,
  permission: 5,
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

/** Something named on the command line does not exist here (a context, a file the command needs). */
export class NotFoundError extends CliError {}

/** The exit code of each kind of error the controller sends (proto/wire-errors.ts); internal is hodei's own failure. */
const KIND_EXIT: Partial<Record<ErrorKind, number>> = {
  invalid: EXIT.usage,
  not_found: EXIT.notFound,
  permission: EXIT.permission,
  unavailable: EXIT.unreachable,
  conflict: EXIT.failed,
};

/** The exit code for `err`; `otherFailure` is the code for a failure no other code covers (125). */
export function exitCodeFor(err: unknown, otherFailure: number = EXIT.failure): number {
  if (err instanceof UsageError) return EXIT.usage;
  if (err instanceof NotFoundError) return EXIT.notFound;
  if (err instanceof ControllerUnreachableError) return EXIT.unreachable;
  if (err instanceof ControllerError) return KIND_EXIT[err.kind] ?? otherFailure;
  return otherFailure;
}
