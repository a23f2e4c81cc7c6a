/**
 * A fake agent: a raw AgentService.Connect stream driven by the test, for what
 * a real agent would never do (forge reports, claim another's name, read
 * another's run) and for tests of the controller alone. It speaks the real
 * wire format over real gRPC; only its behaviour is the test's.
 */
import * as grpc from "@grpc/grpc-js";
import { AgentServiceClient, Hello, type ActiveRun, type AgentMessage, type Assign, type ControllerMessage, type Welcome } from "../../proto/gen/hodei/v1/agent.js";
import { FinishReason } from "../../proto/gen/hodei/v1/common.js";
import { agentMetadata } from "./agent-auth.js";

export interface FakeAgentOptions {
  /** What it presents: a join token or a credential (default: the seeded join token). "" sends none. */
  token?: string;
  slots?: number;
  labels?: Record<string, string>;
  /** Hello.agent_id, as a reconnecting agent sends. */
  agentId?: string;
  /** Hello.active_runs: what a reconnecting agent still holds. */
  activeRuns?: ActiveRun[];
  /** Answer each Cancel with RunFinished(cancelled), as a real agent does. Default true. */
  finishOnCancel?: boolean;
}

export class FakeAgent {
  readonly client: AgentServiceClient;
  readonly call: grpc.ClientDuplexStream<AgentMessage, ControllerMessage>;
  readonly messages: ControllerMessage[] = [];
  /** Resolves with the Welcome, or rejects with the error that ended the stream first. */
  readonly welcome: Promise<Welcome>;
  /** Resolves with the error that ends the stream (never rejects). */
  readonly ended: Promise<grpc.ServiceError | undefined>;
  private waiters: (() => void)[] = [];

  constructor(address: string, readonly name: string, o: FakeAgentOptions = {}) {
    this.client = new AgentServiceClient(address, grpc.credentials.createInsecure());
    this.call = this.client.connect(agentMetadata(o.token ?? process.env.HODEI_AGENT_TOKEN ?? ""));
    this.ended = new Promise((resolve) => {
      this.call.on("error", (err: grpc.ServiceError) => resolve(err));
      this.call.on("end", () => resolve(undefined));
    });
    this.welcome = new Promise((resolve, reject) => {
      this.call.on("data", (m: ControllerMessage) => {
        this.messages.push(m);
        if (m.msg?.$case === "welcome") resolve(m.msg.value);
        if (m.msg?.$case === "cancel" && o.finishOnCancel !== false) {
          const { runId, attempt } = m.msg.value;
          this.send({ msg: { $case: "runFinished", value: { runId, attempt, reason: FinishReason.FINISH_REASON_CANCELLED, exitCode: undefined, signal: "", message: "cancelled", logChunks: 0, finishedAtMs: Date.now(), usage: undefined } } });
        }
        for (const w of this.waiters.splice(0)) w();
      });
      void this.ended.then((err) => reject(err ?? new Error("the stream ended before Welcome")));
    });
    this.welcome.catch(() => {});
    this.send({ msg: { $case: "hello", value: Hello.fromPartial({ name, slots: o.slots ?? 1, labels: o.labels ?? {}, version: "fake", killMethod: "process-group", agentId: o.agentId ?? "", activeRuns: o.activeRuns ?? [] }) } });
  }

  send(m: AgentMessage): void {
    this.call.write(m);
  }

  /** The Assign of `runId` (or the next one), once it has arrived. */
  async assigned(runId?: string, timeoutMs = 30_000): Promise<Assign> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const a = this.messages.find((m) => m.msg?.$case === "assign" && (!runId || m.msg.value.runId === runId));
      if (a?.msg?.$case === "assign") return a.msg.value;
      if (Date.now() > deadline) throw new Error(`no Assign${runId ? ` of run ${runId}` : ""} reached ${this.name}`);
      await new Promise<void>((resolve) => {
        this.waiters.push(resolve);
        setTimeout(resolve, 200);
      });
    }
  }

  /** `authorization: Bearer <credential>` for FetchSource and ReadStdin, once welcomed. */
  async metadata(): Promise<grpc.Metadata> {
    return agentMetadata((await this.welcome).sessionToken);
  }

  close(): void {
    this.call.end();
    this.client.close();
  }
}
