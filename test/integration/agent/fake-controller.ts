// A fake controller: a real grpc-js Server on 127.0.0.1:0 implementing
// AgentService. It records every agent message, answers Hello with Welcome,
// stores log chunks by sequence (dropping resends, as the real one must), and
// lets a test send Assign/Cancel/LogAck/Drain, stop reading, or drop the stream.
import * as grpc from "@grpc/grpc-js";
import {
  AgentServiceService,
  ExecSpec,
  type AgentMessage,
  type ControllerMessage,
  type LogBatch,
  type ReadStdinRequest,
  type StdinData,
} from "../../../proto/gen/hodei/v1/agent.js";
import { LogStream, type LogChunk } from "../../../proto/gen/hodei/v1/common.js";

export interface Received {
  /** Which stream (1 = first connection) the message came on. */
  conn: number;
  msg: NonNullable<AgentMessage["msg"]>;
}

export interface FakeOptions {
  heartbeatIntervalMs?: number;
  /** Answer every LogBatch (and RunFinished) with a LogAck; default true. */
  autoAck?: boolean;
  agentId?: string;
}

type Kind = Received["msg"]["$case"];
type ValueOf<C extends Kind> = Extract<Received["msg"], { $case: C }>["value"];
type Call = grpc.ServerDuplexStream<AgentMessage, ControllerMessage>;

export class FakeController {
  readonly received: Received[] = [];
  /** run#attempt → seq → chunk, first copy wins. */
  readonly chunks = new Map<string, Map<number, LogChunk>>();
  autoAck: boolean;
  connections = 0;
  /** What each stream presented as `authorization: Bearer X` (X), by connection number - 1. */
  readonly sessionTokens: (string | undefined)[] = [];
  private current?: Call;
  private readonly waiters = new Set<() => void>();
  /** Attempts whose RunFinished arrived (`runId#attempt`): their acks say end_recorded. */
  private readonly finishedRuns = new Set<string>();

  /**
   * A run's stdin for ReadStdin: its chunks (the last one is sent with eof);
   * `breakAfter` chunks into the next call the stream fails UNAVAILABLE once,
   * as a restarting controller's would.
   */
  readonly stdin = new Map<string, { chunks: Buffer[]; breakAfter?: number }>();
  /** Every ReadStdin call, in order. */
  readonly stdinRequests: ReadStdinRequest[] = [];

  private readonly server = new grpc.Server();
  port = 0;

  private constructor(private readonly opts: FakeOptions) {
    this.autoAck = opts.autoAck ?? true;
    this.server.addService(AgentServiceService, {
      connect: (call: Call) => this.accept(call),
      readStdin: (call: grpc.ServerWritableStream<ReadStdinRequest, StdinData>) => void this.serveStdin(call),
    });
  }

  /** Listens on 127.0.0.1:`port` (0 = any free port; pass an old one to play a restarted controller). */
  static async start(opts: FakeOptions = {}, port = 0): Promise<FakeController> {
    const fake = new FakeController(opts);
    fake.port = await new Promise<number>((resolve, reject) =>
      fake.server.bindAsync(`127.0.0.1:${port}`, grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
    );
    return fake;
  }

  get address(): string {
    return `127.0.0.1:${this.port}`;
  }

  send(msg: NonNullable<ControllerMessage["msg"]>): void {
    if (!this.current) throw new Error("no agent connected");
    this.current.write({ msg });
  }

  assign(runId: string, spec: Partial<ExecSpec>, attempt = 1, jobName = "test-job"): void {
    this.send({ $case: "assign", value: { runId, attempt, jobName, spec: ExecSpec.fromPartial(spec) } });
  }

  cancel(runId: string, attempt = 1, graceMs = 0, reason = "test"): void {
    this.send({ $case: "cancel", value: { runId, attempt, graceMs, reason } });
  }

  ack(runId: string, attempt = 1, nextSeq = this.contiguous(runId, attempt), endRecorded = this.finishedRuns.has(`${runId}#${attempt}`)): void {
    this.send({ $case: "logAck", value: { runId, attempt, nextSeq, endRecorded } });
  }

  /**
   * Stop reading the agent's stream, as a stopped (SIGSTOP) or overloaded
   * controller would: grpc-js stops pulling, HTTP/2 flow control and TCP fill
   * up, and the agent's writes back up. Writing to the agent still works.
   */
  pauseReading(): void {
    this.current?.pause();
  }

  resumeReading(): void {
    this.current?.resume();
  }

  /** End the current stream with UNAVAILABLE, as a controller crash or proxy reset would. */
  drop(): void {
    this.current?.emit("error", { code: grpc.status.UNAVAILABLE, details: "dropped by the fake controller" });
    this.current = undefined;
  }

  /** Resolves with the first non-undefined `find()` over received messages, re-checked on each new one. */
  waitFor<T>(find: (received: Received[]) => T | undefined, what: string, timeoutMs = 15_000): Promise<T> {
    return new Promise((resolve, reject) => {
      const check = () => {
        const found = find(this.received);
        if (found === undefined) return;
        this.waiters.delete(check);
        clearTimeout(timer);
        resolve(found);
      };
      const timer = setTimeout(() => {
        this.waiters.delete(check);
        reject(new Error(`timed out waiting for ${what}; got ${this.received.map((r) => r.msg.$case).join(",")}`));
      }, timeoutMs);
      this.waiters.add(check);
      check();
    });
  }

  /** The RunFinished of a run (first one), waiting for it. */
  finished(runId: string, attempt = 1, timeoutMs?: number) {
    return this.waitFor(
      (rs) => rs.find((r) => r.msg.$case === "runFinished" && r.msg.value.runId === runId && r.msg.value.attempt === attempt)?.msg,
      `RunFinished of ${runId}`,
      timeoutMs,
    ).then((m) => (m.$case === "runFinished" ? m.value : never()));
  }

  messages<C extends Kind>(kind: C): ValueOf<C>[] {
    const out: ValueOf<C>[] = [];
    for (const r of this.received) if (r.msg.$case === kind) out.push(r.msg.value as ValueOf<C>);
    return out;
  }

  batches(runId: string, attempt = 1): LogBatch[] {
    return this.messages("logBatch").filter((b) => b.runId === runId && b.attempt === attempt);
  }

  /** The next sequence not yet stored: every chunk below it is here. */
  contiguous(runId: string, attempt = 1): number {
    const stored = this.chunks.get(`${runId}#${attempt}`);
    let n = 0;
    while (stored?.has(n)) n++;
    return n;
  }

  /** Stored bytes of one stream (or all), in sequence order. */
  output(runId: string, attempt = 1, stream?: LogStream): Buffer {
    const stored = this.chunks.get(`${runId}#${attempt}`) ?? new Map<number, LogChunk>();
    const parts: Buffer[] = [];
    for (let seq = 0; stored.has(seq); seq++) {
      const c = stored.get(seq)!;
      if (stream === undefined || c.stream === stream) parts.push(c.data);
    }
    return Buffer.concat(parts);
  }

  text(runId: string, attempt = 1, stream = LogStream.LOG_STREAM_STDOUT): string {
    return this.output(runId, attempt, stream).toString("utf8");
  }

  async stop(): Promise<void> {
    this.server.forceShutdown();
  }

  private async serveStdin(call: grpc.ServerWritableStream<ReadStdinRequest, StdinData>): Promise<void> {
    this.stdinRequests.push(call.request);
    const entry = this.stdin.get(call.request.runId);
    if (!entry) return void call.emit("error", { code: grpc.status.NOT_FOUND, details: "no stdin for this run" });
    let sent = 0;
    for (let seq = call.request.fromSeq; seq < entry.chunks.length; seq++) {
      if (call.cancelled) return;
      if (entry.breakAfter !== undefined && sent === entry.breakAfter) {
        entry.breakAfter = undefined;
        return void call.emit("error", { code: grpc.status.UNAVAILABLE, details: "controller restarting" });
      }
      if (!call.write({ seq, data: entry.chunks[seq]!, eof: seq === entry.chunks.length - 1 })) await new Promise((r) => call.once("drain", r));
      sent++;
    }
    call.end();
  }

  private accept(call: Call): void {
    const conn = ++this.connections;
    this.current = call;
    this.sessionTokens.push(call.metadata.get("authorization")[0]?.toString().replace(/^Bearer /, ""));
    call.on("data", (m: AgentMessage) => this.receive(conn, call, m));
    call.on("end", () => call.end()); // the agent half-closed (GoingAway): end our side too
    call.on("error", () => {});
  }

  private receive(conn: number, call: Call, m: AgentMessage): void {
    if (!m.msg) return;
    this.received.push({ conn, msg: m.msg });
    const msg = m.msg;
    if (msg.$case === "hello") {
      const agentId = this.opts.agentId ?? "agent-1";
      call.write({ msg: { $case: "welcome", value: { agentId, heartbeatIntervalMs: this.opts.heartbeatIntervalMs ?? 60_000, sessionToken: "s3cr3t" } } });
    } else if (msg.$case === "logBatch") {
      this.store(msg.value);
      if (this.autoAck) this.ackOn(call, msg.value.runId, msg.value.attempt);
    } else if (msg.$case === "runFinished") {
      // The end is "recorded" here once received; RunFinished is answered with a LogAck saying so.
      this.finishedRuns.add(`${msg.value.runId}#${msg.value.attempt}`);
      if (this.autoAck) this.ackOn(call, msg.value.runId, msg.value.attempt);
    }
    for (const w of [...this.waiters]) w();
  }

  private ackOn(call: Call, runId: string, attempt: number): void {
    call.write({ msg: { $case: "logAck", value: { runId, attempt, nextSeq: this.contiguous(runId, attempt), endRecorded: this.finishedRuns.has(`${runId}#${attempt}`) } } });
  }

  private store(b: LogBatch): void {
    const key = `${b.runId}#${b.attempt}`;
    let stored = this.chunks.get(key);
    if (!stored) this.chunks.set(key, (stored = new Map()));
    b.chunks.forEach((c, i) => {
      if (!stored.has(b.firstSeq + i)) stored.set(b.firstSeq + i, c);
    });
  }
}

function never(): never {
  throw new Error("unreachable");
}
