// How a run is executed, behind the one seam where a second implementation is
// planned: ProcessExecutor (a local process in its own process group and
// cgroup, process-executor.ts) now, a container executor later. The agent only sees these types.
import type { RunAsUser } from "./run-as.js";
import type { Writable } from "node:stream";
import type { ExecSpec, Usage } from "../proto/gen/hodei/v1/agent.js";
import type { FinishReason, LogStream } from "../proto/gen/hodei/v1/common.js";

export interface JobRequest {
  runId: string;
  attempt: number;
  jobName: string;
  spec: ExecSpec;
  /** Absolute directory for this attempt; the executor creates it (a run in place: it must exist). */
  workspace: string;
  /** The agent's own files of the attempt (the script); default <workspace>/.hodei (workspace.ts attemptDirs). */
  scratch?: string;
  /** Where the run's secrets are written (workspace.ts writeSecrets); removed by the caller when the attempt ends. */
  secretsDir?: string;
  /** Run the job as this user (`--run-as`, run-as.ts); undefined: as the agent's user. */
  runAs?: RunAsUser;
  /** This agent runs jobs in place (spec.workspaceDir); without it such a run fails before it starts. */
  allowInPlace?: boolean;
  /** Fetches the run's source bundle (spec.sourceDigest) to unpack into the workspace before the job starts. */
  fetchSource?: (digest: string) => Promise<Buffer>;
  /**
   * With spec.stdin: feeds the job's stdin pipe (agent/stdin.ts) until eof;
   * the executor stops it when the job finishes. Without it stdin is closed.
   */
  feedStdin?: (sink: Writable) => { stop(): void };
  /** The agent's git cache (<workDir>/git-cache) for spec.checkout; without it a checkout fails. */
  gitCacheDir?: string;
  /** Per git command of a checkout (default 10 min). */
  checkoutTimeoutMs?: number;
}

export interface JobResult {
  reason: FinishReason;
  /** Set when the process exited; absent when a signal ended it or it never ran. */
  exitCode?: number;
  /** Signal name when a signal ended the process, else "". */
  signal: string;
  /** Human-readable detail (why it could not start, the timeout, the cancel reason). */
  message: string;
  finishedAtMs: number;
  /** Absent when the executor cannot measure it honestly. */
  usage?: Usage;
}

/**
 * Callbacks of one job, in this order: onStarted (not when spawning failed),
 * onOutput any number of times, onFinished exactly once and only after the
 * last onOutput.
 */
export interface JobEvents {
  onStarted(pid: number, startedAtMs: number): void;
  onOutput(stream: LogStream, data: Buffer): void;
  onFinished(result: JobResult): void;
}

/** Why the agent stops a job; decides the FinishReason (TIMEOUT or CANCELLED). */
export type StopKind = "timeout" | "cancel";

export interface RunningJob {
  /** SIGTERM the job's processes, SIGKILL after graceMs. The first stop decides the reason. */
  stop(kind: StopKind, graceMs: number, message: string): void;
  /** Stop reading output (the job blocks once its pipe fills); resume() reads again. */
  pause(): void;
  resume(): void;
}

export interface Executor {
  /** Reported in Hello: how the job's process tree is stopped ("cgroup-v2", "cgroup-v1", "process-group"). */
  readonly killMethod: string;
  start(request: JobRequest, events: JobEvents): RunningJob;
  /** The agent is leaving: kill whatever finished jobs left behind now, release what the executor holds. */
  close(): Promise<void>;
}
