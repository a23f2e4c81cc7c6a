// Runs a job as a local process in its own process group (detached spawn:
// pgid = pid) and, where the machine allows, its own cgroup (tree.ts), so a
// stop reaches the job and everything it started, even a child that called
// setsid. With process groups only, such a child escapes.
//
// Usage stays absent: Node gives no per-child rusage, and sampling /proc would
// miss short-lived grandchildren, so any figure would look measured and not be.
import { spawn, type ChildProcess } from "node:child_process";
import { Readable } from "node:stream";
import type { Logger } from "pino";
import { FinishReason, LogStream } from "../proto/gen/hodei/v1/common.js";
import type { Executor, JobEvents, JobRequest, JobResult, RunningJob, StopKind } from "./executor.js";
import { SpawnError } from "./errors.js";
import { CheckoutError } from "./checkout.js";
import { setLongTimeout, type LongTimer } from "./long-timer.js";
import type { JobTree, Trees } from "./tree.js";
import { prepareLaunch, runFileName } from "./workspace.js";

// After the main process exits, how long its leftover children (still holding
// the output pipes) get before the agent stops reading and finishes the run.
const ORPHAN_READ_LIMIT_MS = 2_000;

export class ProcessExecutor implements Executor {
  private readonly live = new Set<JobTree>();

  constructor(
    private readonly logger: Logger,
    private readonly trees: Trees,
  ) {}

  get killMethod(): string {
    return this.trees.method;
  }

  start(request: JobRequest, events: JobEvents): RunningJob {
    return new ProcessJob(request, events, this.logger, () => {
      const tree = this.trees.create(runFileName(request.runId, request.attempt));
      this.live.add(tree);
      return tree;
    }, (tree) => this.live.delete(tree));
  }

  async close(): Promise<void> {
    // The agent is leaving: whatever jobs left behind goes now, not after a
    // grace whose timer would die with the process.
    await Promise.all([...this.live].map((t) => t.release()));
    this.live.clear();
    this.trees.close();
  }
}

class ProcessJob implements RunningJob {
  private child?: ChildProcess;
  private tree?: JobTree;
  private stopKind?: StopKind;
  private stopMessage = "";
  private exit?: { code: number | null; signal: NodeJS.Signals | null };
  private openPipes = 2;
  /** Set when the cgroup wrapper closed fd 3 without saying it joined. */
  private joinFailed = false;
  private paused = false;
  private done = false;
  private file = "";
  /** Feeds the job's stdin (`hodei run -i`); stopped when the run finishes. */
  private stdinFeed?: { stop(): void };
  /** Cleared when the run finishes; the tree's SIGKILL timer is not (see exited()). */
  private readonly timers: LongTimer[] = [];
  /** Stops a checkout (git) still preparing the workspace when the run is stopped. */
  private readonly preparing = new AbortController();

  constructor(
    private readonly req: JobRequest,
    private readonly events: JobEvents,
    private readonly log: Logger,
    private readonly newTree: () => JobTree,
    private readonly forget: (tree: JobTree) => void,
  ) {
    void this.launch();
  }

  stop(kind: StopKind, graceMs: number, message: string): void {
    if (this.done || this.stopKind) return;
    this.stopKind = kind;
    this.stopMessage = message;
    if (!this.child) {
      // Still preparing: launch() sees stopKind and never spawns; a checkout's git stops now.
      this.preparing.abort();
      return;
    }
    this.tree?.terminate();
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
      plan = await prepareLaunch(this.req, this.preparing.signal);
    } catch (err) {
      if (this.stopKind) return this.finish({ message: `${this.stopMessage} (before the process started)` });
      if (err instanceof CheckoutError) return this.checkoutFailed(err);
      return this.spawnFailed(err);
    }
    if (this.stopKind) return this.finish({ message: `${this.stopMessage} (before the process started)` });
    this.file = plan.file;
    let child: ChildProcess;
    try {
      // Created before spawn: the process must be in its cgroup before the job's first instruction.
      this.tree = this.newTree();
      const run = this.tree.wrap(plan);
      // stdin is /dev/null unless the run has one (`hodei run -i`): then a pipe the agent feeds.
      const input = this.req.spec.stdin && this.req.feedStdin ? "pipe" : "ignore";
      const stdio = run.joinReport ? ([input, "pipe", "pipe", "pipe"] as const) : ([input, "pipe", "pipe"] as const);
      child = spawn(run.file, run.args, { cwd: run.cwd, env: run.env, detached: true, stdio: [...stdio] });
    } catch (err) {
      return this.spawnFailed(err);
    }
    child.on("error", (err) => (child.pid === undefined ? this.spawnFailed(err) : this.log.warn({ err }, "job process error")));
    if (child.pid === undefined) return; // spawn failed: 'error' follows
    this.child = child;
    this.tree.spawned(child.pid);
    this.events.onStarted(child.pid, Date.now());
    if (child.stdin && this.req.feedStdin) this.stdinFeed = this.req.feedStdin(child.stdin);
    for (const [pipe, stream] of [[child.stdout, LogStream.LOG_STREAM_STDOUT], [child.stderr, LogStream.LOG_STREAM_STDERR]] as const) {
      // No setEncoding: chunks stay Buffers, so colours, \r and binary pass untouched.
      pipe?.on("data", (data: Buffer) => this.events.onOutput(stream, data));
      pipe?.once("close", () => this.pipeClosed());
    }
    this.watchJoin(child.stdio[3]);
    if (this.paused) this.pause();
    child.once("exit", (code, signal) => this.exited(code, signal));
    const timeout = this.req.spec.timeoutMs;
    if (timeout > 0) this.later(timeout, () => this.stop("timeout", this.graceMs(), `timed out after ${timeout} ms`));
  }

  /** The cgroup wrapper writes "ok" on fd 3 once it has joined; EOF without it means it could not. */
  private watchJoin(report: unknown): void {
    if (!(report instanceof Readable)) return;
    this.openPipes++;
    let said = "";
    report.on("data", (d: Buffer) => (said += d.toString()));
    report.once("close", () => {
      if (!said.startsWith("ok")) this.joinFailed = true;
      this.pipeClosed();
    });
  }

  private pipeClosed(): void {
    this.openPipes--;
    this.maybeFinish();
  }

  private exited(code: number | null, signal: NodeJS.Signals | null): void {
    this.exit = { code, signal };
    const tree = this.tree!;
    if (tree.empty) {
      void this.release();
    } else {
      // A job's processes do not outlive it: TERM what is left of the tree
      // now, KILL it after the grace, even if the run has finished by then
      // (children that closed their output pipes do not hold the run open).
      tree.terminate();
      this.killLater(this.graceMs());
    }
    const stopReading = () => {
      if (this.done) return;
      if (this.paused) return this.later(ORPHAN_READ_LIMIT_MS, stopReading); // paused output is ours to deliver
      this.events.onOutput(LogStream.LOG_STREAM_SYSTEM, Buffer.from(`hodei: stopped reading output: a process outside the job's ${tree.where} still holds it open\n`));
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
    if (this.joinFailed) {
      const message = `cannot move the job into its ${this.tree?.where ?? "cgroup"}`;
      this.events.onOutput(LogStream.LOG_STREAM_SYSTEM, Buffer.from(`hodei: cannot start the job: ${message}\n`));
      return this.finish({ reason: FinishReason.FINISH_REASON_SPAWN_FAILED, message });
    }
    if (signal) return this.finish({ reason: FinishReason.FINISH_REASON_SIGNALED, signal, message: `killed by ${signal}` });
    this.finish({ reason: FinishReason.FINISH_REASON_EXITED, exitCode: code ?? 0, message: "" });
  }

  /** The job never started: git's (scrubbed) error goes to the run's log as system lines. */
  private checkoutFailed(err: CheckoutError): void {
    const text = err.message.split("\n").map((l) => `hodei: checkout failed: ${l}\n`).join("");
    this.events.onOutput(LogStream.LOG_STREAM_SYSTEM, Buffer.from(text));
    this.finish({ reason: FinishReason.FINISH_REASON_CHECKOUT, message: err.message.split("\n")[0]!.slice(0, 500) });
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
    this.stdinFeed?.stop();
    for (const t of this.timers) t.clear();
    if (!this.child) void this.release(); // never spawned: only an empty cgroup to remove
    const stopped = this.stopKind === "timeout" ? FinishReason.FINISH_REASON_TIMEOUT : FinishReason.FINISH_REASON_CANCELLED;
    this.events.onFinished({ reason: stopped, signal: "", message: "", finishedAtMs: Date.now(), ...partial });
  }

  private async release(): Promise<void> {
    const tree = this.tree;
    if (!tree) return;
    await tree.release();
    this.forget(tree);
  }

  private graceMs(): number {
    return this.req.spec.killGraceMs > 0 ? this.req.spec.killGraceMs : 10_000;
  }

  // Unref'd: a pending SIGKILL must not keep a stopping agent alive (the
  // executor's close() does it at once instead). The group id could in theory
  // be reused within the grace; Linux hands out pids sequentially, so that
  // needs the whole pid space to wrap in seconds. A cgroup has no such risk.
  // Long timers: timeout and killGrace may be up to 365d, past what one Node timer holds.
  private killLater(ms: number): void {
    setLongTimeout(() => void this.release(), ms, { unref: true });
  }

  private later(ms: number, fn: () => void): void {
    this.timers.push(setLongTimeout(fn, ms, { unref: true }));
  }
}
