import type { ErrorKind } from "../proto/wire-errors.js";

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
 * The stream to the controller ended. Carries the gRPC status, and the kind
 * read from it (proto/wire-errors.ts), so the log says why;
 * the agent reconnects on its own, so this is logged, not thrown out.
 */
export class StreamClosedError extends AgentError {
  /** What the status says went wrong; undefined when the stream ended without one. */
  readonly kind?: ErrorKind;

  constructor(
    message: string,
    readonly grpcCode?: number,
    options?: { cause?: unknown; kind?: ErrorKind },
  ) {
    super(message, options);
    this.kind = options?.kind;
  }

  /** The controller turned this agent away (a name already connected, a bad Hello): the operator must act. */
  get refused(): boolean {
    return this.kind === "invalid" || this.kind === "conflict" || this.kind === "permission";
  }
}

/**
 * The log spool (<work-dir>/spool) could not be written or read back: disk
 * full, a file removed under the agent, a damaged record. Writing failures
 * keep the chunks in memory (and pause jobs if memory is over its limit);
 * reading failures replace the lost chunks with a system line, so the
 * sequence stays whole and the loss is visible in the run's log.
 */
export class SpoolError extends AgentError {
  constructor(
    message: string,
    /** The spool file concerned. */
    readonly path: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/**
 * A cgroup could not be created, joined, signalled or removed. At startup it
 * means the kill method falls back (or, with --kill-method cgroup, the agent
 * refuses to start); for one run it ends the run with SPAWN_FAILED.
 */
export class CgroupError extends AgentError {
  constructor(
    message: string,
    /** The cgroup directory concerned. */
    readonly dir: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}
