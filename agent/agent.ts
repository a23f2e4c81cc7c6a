// The agent: one Connection, one Outbox of runs, one Executor. It turns
// controller messages into jobs and job events into reports; shutdown.ts
// holds the drain sequence.
import { AgentCredential, credentialFile } from "./credential.js";
import { checkReachable } from "./run-as.js";
import { chmod, mkdir, rm } from "node:fs/promises";
import { join } from "node:path";
import { ExecSpec, type ActiveRun, type Assign, type Cancel, type ControllerMessage, type Hello, type Welcome } from "../proto/gen/hodei/v1/agent.js";
import { FinishReason, LogStream } from "../proto/gen/hodei/v1/common.js";
import { LogBudget } from "./budget.js";
import { Changes } from "./changes.js";
import type { CompiledAgentOptions } from "./config.js";
import { Connection } from "./connection.js";
import type { Executor } from "./executor.js";
import { LogPipe } from "./logpipe.js";
import { RunMasker } from "./mask.js";
import { HostMetrics } from "./metrics.js";
import { Outbox } from "./outbox.js";
import { ProcessExecutor } from "./process-executor.js";
import { SpoolDir } from "./spool.js";
import { feedStdin } from "./stdin.js";
import { openTrees } from "./tree.js";
import { agentVersion } from "./version.js";
import { attemptDirs, runFileName } from "./workspace.js";

/** Under the work dir: one 0700 directory per attempt with secrets (workspace.ts writeSecrets). */
const SECRETS_DIR = "secrets";

/** Spool segment files: small enough that acknowledged data leaves the disk soon, large enough to be few. */
function segmentBytes(maxSpool: number): number {
  return Math.min(64 << 20, Math.max(64 << 10, Math.floor(maxSpool / 16)));
}

export class AgentRuntime {
  readonly changes = new Changes();
  readonly budget: LogBudget;
  readonly outbox: Outbox;
  readonly connection: Connection;
  readonly log: CompiledAgentOptions["logger"];
  /** Set on drain or stop: Assigns are refused from then on. */
  draining = false;
  agentId: string | undefined;
  /** Set by index.ts: the shutdown sequence, shared with SIGTERM; a controller Drain starts it too. */
  onDrain?: (reason: string, deadlineMs: number) => void;
  private readonly metrics = new HostMetrics();
  private heartbeat?: NodeJS.Timeout;
  private exec?: Executor;

  constructor(readonly opts: CompiledAgentOptions) {
    this.log = opts.logger;
    this.budget = new LogBudget(opts.maxUnackedLogBytes, opts.maxSpoolBytes);
    this.connection = new Connection(
      {
        address: opts.controller,
        backoff: opts.backoff,
        helloTimeoutMs: opts.helloTimeoutMs,
        logger: this.log,
        credentials: opts.credentials,
        credential: new AgentCredential(credentialFile(opts.workDir, opts.name), opts.joinToken, this.log),
      },
      {
        hello: () => this.hello(),
        onWelcome: (w) => this.welcomed(w),
        onMessage: (m) => this.dispatch(m),
        onWritable: () => this.outbox.schedule(),
        onDown: () => {
          clearInterval(this.heartbeat);
          this.changes.notify();
        },
      },
    );
    const spools = opts.maxSpoolBytes > 0 ? new SpoolDir(join(opts.workDir, "spool"), segmentBytes(opts.maxSpoolBytes)) : undefined;
    const newPipe = (runId: string, attempt: number) =>
      new LogPipe(runId, attempt, { budget: this.budget, spools, spoolName: runFileName(runId, attempt), log: this.log });
    this.outbox = new Outbox(this.connection, newPipe, () => this.changes.notify(), this.log);
    this.budget.subscribe((paused, why) => {
      // Rare with a spool (it takes --max-spool of backlog), so worth a warning each time.
      const fields = { memoryBytes: this.budget.memory, spoolBytes: this.budget.spool, maxSpoolBytes: this.opts.maxSpoolBytes };
      if (paused) this.log.warn(fields, `pausing job output: ${why}`);
      else this.log.info(fields, `resuming job output: ${why}`);
      for (const r of this.outbox.records()) {
        if (paused) r.job?.pause();
        else r.job?.resume();
      }
    });
  }

  /** Available once start() has resolved. */
  get executor(): Executor {
    if (!this.exec) throw new Error("the agent has not started");
    return this.exec;
  }

  async start(): Promise<void> {
    await mkdir(this.opts.workDir, { recursive: true });
    // Jobs of another user (--run-as) may pass through the work dir to their workspace, but not list it;
    // what is the agent's own (credentials, spool, secrets of other runs) is 0700 below it.
    if (this.opts.runAs) {
      await checkReachable(this.opts.workDir, this.opts.runAs);
      await mkdir(join(this.opts.workDir, "runs"), { recursive: true });
      await chmod(this.opts.workDir, 0o711);
      await chmod(join(this.opts.workDir, "runs"), 0o711);
    }
    // Secrets of runs an earlier process of this agent did not get to remove (it was killed).
    await rm(join(this.opts.workDir, SECRETS_DIR), { recursive: true, force: true });
    // Each run's secrets directory (0700) is given to the job's user; its parent must let that user through.
    if (this.opts.runAs) await mkdir(join(this.opts.workDir, SECRETS_DIR), { mode: 0o711 });
    // Before the first Hello, which reports the kill method. Throws ConfigError for an unusable --kill-method cgroup*.
    this.exec = new ProcessExecutor(this.log, openTrees(this.opts.killMethod, this.log));
    this.log.info(
      { controller: this.opts.controller, tls: this.opts.tls, agent: this.opts.name, slots: this.opts.slots, workDir: this.opts.workDir, killMethod: this.exec.killMethod },
      "agent starting",
    );
    if (this.opts.dialAfter) await this.opts.dialAfter;
    this.connection.start();
  }

  running(): number {
    return this.outbox.records().filter((r) => r.running).length;
  }

  runs(): ActiveRun[] {
    return this.outbox.activeRuns();
  }

  stopHeartbeat(): void {
    clearInterval(this.heartbeat);
  }

  /** Stop every running job (SIGTERM now, SIGKILL after its grace). */
  cancelAll(message: string): void {
    for (const r of this.outbox.records()) r.job?.stop("cancel", r.killGraceMs, message);
  }

  private hello(): Hello {
    const { name, labels, slots } = this.opts;
    const activeRuns = this.outbox.activeRuns();
    return { name, version: agentVersion(), labels: { ...labels }, slots, activeRuns, killMethod: this.executor.killMethod, agentId: this.agentId ?? "", draining: this.draining };
  }

  private welcomed(welcome: Welcome): void {
    this.agentId = welcome.agentId || this.agentId;
    const interval = welcome.heartbeatIntervalMs > 0 ? welcome.heartbeatIntervalMs : this.opts.defaultHeartbeatMs;
    this.log.info({ agentId: this.agentId, heartbeatMs: interval, runs: this.outbox.size }, "connected to the controller");
    this.outbox.reconnected();
    const beat = () => this.connection.write({ msg: { $case: "heartbeat", value: this.metrics.heartbeat(this.running()) } });
    clearInterval(this.heartbeat);
    beat();
    this.heartbeat = setInterval(beat, interval);
    this.changes.notify();
  }

  private dispatch(message: ControllerMessage): void {
    const m = message.msg;
    switch (m?.$case) {
      case "assign":
        return this.assign(m.value);
      case "cancel":
        return this.cancel(m.value);
      case "logAck":
        return this.outbox.ack(m.value);
      case "drain":
        // Drain.deadline_ms: 0 means no limit (protocol), unlike --drain-timeout's default.
        this.onDrain?.(m.value.reason || "drain requested by the controller", m.value.deadlineMs);
        return;
      default:
        this.log.warn({ message: m?.$case }, "unexpected controller message");
    }
  }

  private assign(a: Assign): void {
    if (this.outbox.get(a.runId, a.attempt)) {
      this.log.warn({ runId: a.runId, attempt: a.attempt }, "duplicate Assign ignored");
      return;
    }
    const spec = a.spec ?? ExecSpec.fromPartial({});
    const record = this.outbox.add(a.runId, a.attempt, spec.killGraceMs > 0 ? spec.killGraceMs : this.opts.defaultKillGraceMs);
    const log = this.log.child({ runId: a.runId, attempt: a.attempt });
    if (this.draining) {
      log.warn("Assign while draining: refused");
      this.outbox.output(record, LogStream.LOG_STREAM_SYSTEM, Buffer.from("hodei: the agent is draining and did not start this run\n"));
      this.outbox.finished(record, { reason: FinishReason.FINISH_REASON_INFRASTRUCTURE, signal: "", message: "agent is draining", finishedAtMs: Date.now() });
      return;
    }
    if (this.running() >= this.opts.slots) log.warn({ slots: this.opts.slots }, "Assign beyond the agent's slots; running it anyway");
    // A run in place works in the submitter's directory, which is never removed (workspace.ts attemptDirs).
    const { workspace, scratch, removable } = attemptDirs(this.opts.workDir, a.runId, a.attempt, spec);
    const secretsDir = join(this.opts.workDir, SECRETS_DIR, runFileName(a.runId, a.attempt));
    // Every byte of the run's output passes the masker before the pipe (agent/mask.ts).
    const masker = new RunMasker(spec.maskValues, (stream, data) => this.outbox.output(record, stream, data));
    const job = this.executor.start(
      {
        runId: a.runId,
        attempt: a.attempt,
        jobName: a.jobName,
        spec: { ...spec, killGraceMs: record.killGraceMs },
        workspace,
        scratch,
        secretsDir,
        allowInPlace: this.opts.allowInPlace,
        runAs: this.opts.runAs,
        gitCacheDir: join(this.opts.workDir, "git-cache"),
        fetchSource: (digest) => this.connection.fetchSource(digest),
        feedStdin: spec.stdin ? (sink) => feedStdin((from) => this.connection.readStdin(a.runId, a.attempt, from), sink, log) : undefined,
      },
      {
        onStarted: (pid, startedAtMs) => {
          log.info({ jobPid: pid, job: a.jobName }, "run started");
          this.outbox.started(record, { runId: a.runId, attempt: a.attempt, pid, startedAtMs });
        },
        onOutput: (stream, data) => masker.write(stream, data),
        onFinished: (result) => {
          masker.close();
          log.info({ reason: FinishReason[result.reason], exitCode: result.exitCode, signal: result.signal || undefined }, "run finished");
          this.outbox.finished(record, result);
          if (!this.opts.keepWorkspaces) void rm(removable, { recursive: true, force: true }).catch((err: unknown) => log.warn({ err }, "cannot remove workspace"));
          // Secrets go whatever --keep-workspaces says.
          if (spec.secrets.length > 0) void rm(secretsDir, { recursive: true, force: true }).catch((err: unknown) => log.error({ err, dir: secretsDir }, "cannot remove a run's secrets"));
        },
      },
    );
    if (!record.finished) record.job = job;
    if (this.budget.paused) job.pause();
  }

  private cancel(c: Cancel): void {
    const record = this.outbox.get(c.runId, c.attempt);
    if (!record?.job) {
      // Unknown, or already finished: its RunFinished is (or was) on its way.
      this.log.info({ runId: c.runId, attempt: c.attempt, known: !!record }, "Cancel for a run that is not running");
      return;
    }
    const grace = c.graceMs > 0 ? c.graceMs : record.killGraceMs;
    record.job.stop("cancel", grace, c.reason ? `cancelled: ${c.reason}` : "cancelled");
  }
}
