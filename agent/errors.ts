// Named errors of the agent. Each keeps its `cause` and says what to do next,
// so the CLI can print `err.message` and be done.

/** Base class: everything the agent throws on purpose is an AgentError. */
export class AgentError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** An agent option (flag, env var, or startAgent() argument) is invalid. */
export class ConfigError extends AgentError {
  constructor(
    readonly option: string,
    message: string,
  ) {
    super(`--${option}: ${message}`);
  }
}

/**
 * A run could not be started: bad spec, workdir outside the workspace, missing
 * command. It ends the run with FINISH_REASON_SPAWN_FAILED, never the agent.
 */
export class SpawnError extends AgentError {
  constructor(
    message: string,
    /** errno code when the OS refused (ENOENT, EACCES, ...). */
    readonly code?: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/**
 * The stream to the controller ended. Carries the gRPC status so the log says
 * why; the agent reconnects on its own, so this is logged, not thrown out.
 */
export class StreamClosedError extends AgentError {
  constructor(
    message: string,
    readonly grpcCode?: number,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}
