// The agent's one stream to the controller: dial, Hello, wait for Welcome,
// then pass messages both ways until the stream ends; then redial with
// backoff, forever, until close(). What to (re)send after a Welcome is the
// outbox's business, not this file's: a Connection holds no run state.
import * as grpc from "@grpc/grpc-js";
import type { Logger } from "pino";
import {
  type SourceChunk,
  type StdinData,
  AgentServiceClient,
  type AgentMessage,
  type ControllerMessage,
  type Hello,
  type Welcome,
} from "../proto/gen/hodei/v1/agent.js";
import { Backoff, type BackoffOptions } from "./backoff.js";
import { StreamClosedError } from "./errors.js";
import { fromWire } from "../proto/wire-errors.js";
import { Flow } from "./flow.js";
import type { AgentCredential } from "./credential.js";

export interface ConnectionHandlers {
  /** Built fresh for every dial: it lists the runs the agent holds right now. */
  hello(): Hello;
  onWelcome(welcome: Welcome, generation: number): void;
  onMessage(message: ControllerMessage): void;
  /** The stream can take more after having been busy. */
  onWritable(): void;
  onDown(error: StreamClosedError): void;
}

export interface ConnectionOptions {
  address: string;
  backoff: BackoffOptions;
  helloTimeoutMs: number;
  logger: Logger;
  credentials?: grpc.ChannelCredentials;
  /** What every call presents as `authorization: Bearer` (credential.ts): the session credential, or the join token before the first Welcome. */
  credential: AgentCredential;
}

const CHANNEL_OPTIONS: grpc.ChannelOptions = {
  // Find a dead controller (or a cut network) in ~40 s instead of TCP's ~15 min.
  "grpc.keepalive_time_ms": 30_000,
  "grpc.keepalive_timeout_ms": 10_000,
  "grpc.keepalive_permit_without_calls": 1,
  // A fresh subchannel per dial, so our backoff, not the shared channel's (up to 120 s), paces retries.
  "grpc.use_local_subchannel_pool": 1,
};

type Call = grpc.ClientDuplexStream<AgentMessage, ControllerMessage>;

export class Connection {
  private client?: AgentServiceClient;
  private call?: Call;
  private gen = 0;
  private downGen = 0;
  private welcomed = false;
  private upSince = 0;
  private flow = new Flow(() => {});
  private closing = false;
  private retryTimer?: NodeJS.Timeout;
  private helloTimer?: NodeJS.Timeout;
  private closeWaiter?: () => void;
  private readonly backoff: Backoff;

  constructor(
    private readonly opts: ConnectionOptions,
    private readonly handlers: ConnectionHandlers,
  ) {
    this.backoff = new Backoff(opts.backoff);
  }

  start(): void {
    this.dial();
  }

  /** Increases with every dial; tells one stream's sends from the next's. */
  get generation(): number {
    return this.gen;
  }
  /** Welcomed on the current stream. */
  get connected(): boolean {
    return this.welcomed;
  }
  /** Connected and not backpressured: a good moment to send logs. */
  get ready(): boolean {
    return this.welcomed && this.flow.open;
  }

  /** Writes when connected (else drops: the outbox resends after the next Welcome). Returns `ready`. */
  write(message: AgentMessage): boolean {
    if (!this.call || !this.welcomed) return false;
    this.flow.write(this.call, message);
    return this.ready;
  }

  /**
   * The source bundle `digest` (AgentService.FetchSource), from the controller
   * of the current stream. A retryable failure (the controller's database
   * restarting, the controller itself) is retried with backoff until
   * `timeoutMs` has passed; anything else fails at once.
   */
  async fetchSource(digest: string, timeoutMs = 300_000): Promise<Buffer> {
    const deadline = Date.now() + timeoutMs;
    const backoff = new Backoff({ initialMs: 200, factor: 2, maxMs: 5_000 });
    for (;;) {
      try {
        return await this.fetchSourceOnce(digest, deadline);
      } catch (err) {
        const retryable = err instanceof StreamClosedError || (err as { retryable?: boolean }).retryable === true;
        const wait = Math.max(100, backoff.next());
        if (!retryable || Date.now() + wait >= deadline) throw err;
        this.opts.logger.warn({ digest, err: (err as Error).message, retryInMs: wait }, "cannot fetch a source bundle yet; retrying");
        await new Promise((res) => setTimeout(res, wait));
      }
    }
  }

  private fetchSourceOnce(digest: string, deadline: number): Promise<Buffer> {
    const client = this.client;
    if (!client) return Promise.reject(new StreamClosedError("not connected to a controller"));
    const metadata = this.metadata();
    return new Promise((resolve, reject) => {
      const parts: Buffer[] = [];
      let call: grpc.ClientReadableStream<SourceChunk>;
      try {
        call = client.fetchSource({ digest }, metadata, { deadline });
      } catch (err) {
        // The stream went down and closed this client ("Channel has been shut down"): retry on the next one.
        return reject(new StreamClosedError(`not connected to a controller: ${(err as Error).message}`, undefined, { cause: err }));
      }
      call.on("data", (c: SourceChunk) => parts.push(Buffer.from(c.data)));
      call.on("error", (err: grpc.ServiceError) => {
        const w = fromWire(err);
        reject(Object.assign(new Error(w.message, { cause: err }), { retryable: w.retryable }));
      });
      call.on("end", () => resolve(Buffer.concat(parts)));
    });
  }

  /** ReadStdin of one run attempt from `fromSeq`, from the controller of the current stream; undefined when there is none. */
  readStdin(runId: string, attempt: number, fromSeq: number): grpc.ClientReadableStream<StdinData> | undefined {
    const client = this.client;
    if (!client || !this.welcomed) return undefined;
    try {
      return client.readStdin({ runId, attempt, fromSeq }, this.metadata());
    } catch {
      // Closed under us as the stream went down: the caller reads again after the next Welcome.
      return undefined;
    }
  }

  /** Stop redialling; send `last` (GoingAway), half-close, give the controller `timeoutMs` to end its side. */
  async close(last?: AgentMessage, timeoutMs = 2_000): Promise<void> {
    this.closing = true;
    clearTimeout(this.retryTimer);
    const gen = this.gen;
    if (this.call && this.downGen !== gen) {
      if (last) this.write(last);
      this.call.end();
      await new Promise<void>((resolve) => {
        this.closeWaiter = resolve;
        setTimeout(resolve, timeoutMs).unref();
      });
      this.down(gen, new StreamClosedError("closed by the agent"));
    }
    this.client?.close();
  }

  private dial(): void {
    if (this.closing) return;
    const gen = ++this.gen;
    this.welcomed = false;
    const flow = (this.flow = new Flow(() => this.welcomed && this.handlers.onWritable()));
    const client = new AgentServiceClient(this.opts.address, this.opts.credentials ?? grpc.credentials.createInsecure(), CHANNEL_OPTIONS);
    const call = client.connect(this.metadata());
    this.client = client;
    this.call = call;
    call.on("data", (m: ControllerMessage) => {
      if (gen === this.gen && this.downGen !== gen) this.receive(m);
    });
    call.on("error", (err: grpc.ServiceError) => {
      const w = fromWire(err);
      this.down(gen, new StreamClosedError(`stream failed: ${w.message}`, err.code, { cause: err, kind: w.kind }));
    });
    call.on("end", () => this.down(gen, new StreamClosedError("the controller ended the stream")));
    call.on("drain", () => flow.drained());
    call.write({ msg: { $case: "hello", value: this.handlers.hello() } });
    this.helloTimer = setTimeout(
      () => this.down(gen, new StreamClosedError(`no Welcome within ${this.opts.helloTimeoutMs} ms`)),
      this.opts.helloTimeoutMs,
    );
  }

  /** Who this agent is, for every call (credential.ts). */
  private metadata(): grpc.Metadata {
    const metadata = new grpc.Metadata();
    const bearer = this.opts.credential.bearer();
    if (bearer) metadata.set("authorization", `Bearer ${bearer}`);
    return metadata;
  }

  private receive(message: ControllerMessage): void {
    if (message.msg?.$case === "welcome") {
      clearTimeout(this.helloTimer);
      const welcome = message.msg.value;
      this.welcomed = true;
      this.upSince = Date.now();
      this.opts.credential.accept(welcome.sessionToken);
      this.handlers.onWelcome(welcome, this.gen);
      return;
    }
    if (!this.welcomed) this.opts.logger.warn({ message: message.msg?.$case }, "controller message before Welcome");
    this.handlers.onMessage(message);
  }

  /** Once per stream: tear it down, tell the agent, and unless closing, redial after a backoff. */
  private down(gen: number, error: StreamClosedError): void {
    if (gen !== this.gen || this.downGen === gen) return;
    this.downGen = gen;
    clearTimeout(this.helloTimer);
    const wasUpFor = this.welcomed ? Date.now() - this.upSince : 0;
    this.welcomed = false;
    this.call?.cancel();
    this.client?.close();
    this.handlers.onDown(error);
    if (this.closing) {
      this.closeWaiter?.();
      return;
    }
    // A session that lasted longer than the longest delay was healthy: start over from the shortest.
    if (wasUpFor >= this.opts.backoff.maxMs) this.backoff.reset();
    const delay = this.backoff.next();
    const fields = { err: error.message, code: error.grpcCode, kind: error.kind, retryInMs: delay };
    // A credential the controller does not know (its database was replaced, or this name joined again
    // elsewhere): join afresh with the join token, if the agent has one.
    const credential = this.opts.credential;
    if (error.grpcCode === grpc.status.UNAUTHENTICATED && credential.joined && credential.canJoin && credential.dropCredential()) {
      this.opts.logger.warn(fields, "the controller does not know this agent's credential; joining again with the join token");
      this.retryTimer = setTimeout(() => this.dial(), delay);
      return;
    }
    // Classified by status code and kind, never by the message. A refusal (a name already
    // connected, a bad Hello) needs the operator; keep trying, as it may clear (the old stream ends).
    if (error.refused) this.opts.logger.error(fields, "the controller refused this agent; fix what the message says (retrying meanwhile)");
    else this.opts.logger.warn(fields, "controller stream down; reconnecting");
    this.retryTimer = setTimeout(() => this.dial(), delay);
  }
}
