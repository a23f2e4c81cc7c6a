// Runs a job as a local process in its own process group (detached spawn:
// pgid = pid), so one kill(-pgid) reaches the job and every child it started
// (a child that calls setsid escapes; the cgroup executor will close that).
//
// Usage stays absent: Node gives no per-child rusage, and sampling /proc would
// miss short-lived grandchildren, so any figure would look measured and not be.
import { spawn, type ChildProcess } from "node:child_process";
import type { Logger } from "pino";
import { FinishReason, LogStream } from "../proto/gen/hodei/v1/common.js";
import type { Executor, JobEvents, JobRequest, JobResult, RunningJob, StopKind } from "./executor.js";
import { SpawnError } from "./errors.js";
import { prepareLaunch } from "./workspace.js";

// After the main process exits, how long its leftover children (still holding
// the output pipes) get before the agent stops reading and finishes the run.
const ORPHAN_READ_LIMIT_MS = 2_000;

export class ProcessExecutor implements Executor {
  readonly killMethod = "process-group";
  constructor(private readonly logger: Logger) {}

  start(request: JobRequest, events: JobEvents): RunningJob {
    return new ProcessJob(request, events, this.logger);
  }
}

class ProcessJob implements RunningJob {
  private child?: ChildProcess;
  private stopKind?: StopKind;
  private stopMessage = "";
  private exit?: { code: number | null; signal: NodeJS.Signals | null };
  private openPipes = 2;
  private paused = false;
  private done = false;
  private file = "";
  /** Cleared when the run finishes; the group's SIGKILL timer is not (see exited()). */
  private readonly timers: NodeJS.Timeout[] = [];

  constructor(
    private readonly req: JobRequest,
    private readonly events: JobEvents,
    private readonly log: Logger,
  ) {
    void this.launch();
  }

  stop(kind: StopKind, graceMs: number, message: string): void {
    if (this.done || this.stopKind) return;
    this.stopKind = kind;
    this.stopMessage = message;
    if (!this.child) return; // still preparing: launch() sees stopKind and never spawns
    this.signalGroup("SIGTERM");
    this.killLater(graceMs);
  }

  pause(): void {
    this.paused = true;
    this.child?.stdout?.pause();
    this.child?.stderr?.pause();
  }

  resume(): void {
    this.paused = false;
    this.child?.stdout?.resume();
    this.child?.stderr?.resume();
  }

  private async launch(): Promise<void> {
    let plan;
    try {
      plan = await prepareLaunch(this.req);
    } catch (err) {
      return this.spawnFailed(err);
    }
    if (this.stopKind) return this.finish({ message: `${this.stopMessage} (before the process started)` });
    this.file = plan.file;
    let child: ChildProcess;
    try {
      child = spawn(plan.file, plan.args, { cwd: plan.cwd, env: plan.env, detached: true, stdio: ["ignore", "pipe", "pipe"] });
    } catch (err) {
      return this.spawnFailed(err);
    }
    child.on("error", (err) => (child.pid === undefined ? this.spawnFailed(err) : this.log.warn({ err }, "job process error")));
    if (child.pid === undefined) return; // spawn failed: 'error' follows
    this.child = child;
    this.events.onStarted(child.pid, Date.now());
    for (const [pipe, stream] of [[child.stdout, LogStream.LOG_STREAM_STDOUT], [child.stderr, LogStream.LOG_STREAM_STDERR]] as const) {
      // No setEncoding: chunks stay Buffers, so colours, \r and binary pass untouched.
      pipe?.on("data", (data: Buffer) => this.events.onOutput(stream, data));
      pipe?.once("close", () => {
        this.openPipes--;
        this.maybeFinish();
      });
    }
    if (this.paused) this.pause();
    child.once("exit", (code, signal) => this.exited(code, signal));
    const timeout = this.req.spec.timeoutMs;
    if (timeout > 0) this.later(timeout, () => this.stop("timeout", this.graceMs(), `timed out after ${timeout} ms`));
  }

  private exited(code: number | null, signal: NodeJS.Signals | null): void {
    this.exit = { code, signal };
    // A job's processes do not outlive it: TERM what is left of the group now,
    // KILL it after the grace, even if the run has finished by then (children
    // that closed their output pipes do not hold the run open).
    this.signalGroup("SIGTERM");
    this.killLater(this.graceMs());
    const stopReading = () => {
      if (this.done) return;
      if (this.paused) return this.later(ORPHAN_READ_LIMIT_MS, stopReading); // paused output is ours to deliver
      this.events.onOutput(LogStream.LOG_STREAM_SYSTEM, Buffer.from("hodei: stopped reading output: a process outside the job's process group still holds it open\n"));
      this.child?.stdout?.destroy();
      this.child?.stderr?.destroy();
    };
    this.later(this.graceMs() + ORPHAN_READ_LIMIT_MS, stopReading);
    this.maybeFinish();
  }

  private maybeFinish(): void {
    if (!this.exit || this.openPipes > 0) return;
    const { code, signal } = this.exit;
    if (this.stopKind) return this.finish({ exitCode: code ?? undefined, signal: signal ?? "", message: this.stopMessage });
    if (signal) return this.finish({ reason: FinishReason.FINISH_REASON_SIGNALED, signal, message: `killed by ${signal}` });
    this.finish({ reason: FinishReason.FINISH_REASON_EXITED, exitCode: code ?? 0, message: "" });
  }

  private spawnFailed(err: unknown): void {
    const code = err instanceof SpawnError ? err.code : (err as NodeJS.ErrnoException).code;
    let message = err instanceof Error ? err.message : String(err);
    if (code === "ENOENT" && !(err instanceof SpawnError)) message = `command not found: ${this.file}`;
    this.events.onOutput(LogStream.LOG_STREAM_SYSTEM, Buffer.from(`hodei: cannot start the job: ${message}\n`));
    this.finish({ reason: FinishReason.FINISH_REASON_SPAWN_FAILED, message });
  }

  private finish(partial: Partial<JobResult>): void {
    if (this.done) return;
    this.done = true;
    for (const t of this.timers) clearTimeout(t);
    const stopped = this.stopKind === "timeout" ? FinishReason.FINISH_REASON_TIMEOUT : FinishReason.FINISH_REASON_CANCELLED;
    this.events.onFinished({ reason: stopped, signal: "", message: "", finishedAtMs: Date.now(), ...partial });
  }

  private signalGroup(signal: NodeJS.Signals): void {
    const pid = this.child?.pid;
    if (pid === undefined) return;
    try {
      process.kill(-pid, signal);
    } catch {
      // ESRCH: the group is already gone
    }
  }

  private graceMs(): number {
    return this.req.spec.killGraceMs > 0 ? this.req.spec.killGraceMs : 10_000;
  }

  // Unref'd: a pending SIGKILL must not keep a stopping agent alive. The
  // group id could in theory be reused within the grace; Linux hands out pids
  // sequentially, so that needs the whole pid space to wrap in seconds.
  private killLater(ms: number): void {
    setTimeout(() => this.signalGroup("SIGKILL"), ms).unref();
  }

  private later(ms: number, fn: () => void): void {
    const t = setTimeout(fn, ms);
    t.unref();
    this.timers.push(t);
  }
}
