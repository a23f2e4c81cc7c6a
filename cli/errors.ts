/**
 * The CLI's errors and their exit codes, mapped to the process exit in one
 * place (HodeiCommand.catch). `hodei run` exits with the job's own code, so
 * its own failures use 125, as `docker run` does.
 */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode = 1,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = "CliError";
  }
}

export const EXIT = {
  /** hodei itself failed (as docker run's 125). */
  hodei: 125,
  /** The run ended by timeout (as timeout(1)). */
  timedOut: 124,
  /** The run was cancelled (as a shell's SIGINT). */
  cancelled: 130,
  usage: 2,
} as const;

export class ControllerUnreachableError extends CliError {
  constructor(address: string, detail: string, exitCode = 1) {
    super(
      `cannot reach the controller at ${address} (${detail}).\n` +
        `Is \`hodei controller\` running there? Set --controller or HODEI_CONTROLLER, or unset it to use the embedded controller.`,
      exitCode,
    );
    this.name = "ControllerUnreachableError";
  }
}
