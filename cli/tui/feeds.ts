/**
 * The watcher's live data: WatchRuns and WatchAgents streams kept open, and
 * reopened after the controller goes away (with backoff, and for runs from
 * the last resume token, so nothing changed meanwhile is missed). Nothing
 * here polls: each feed holds what the streams said and calls `onChange`.
 */
import { status, type ClientReadableStream, type ServiceError } from "@grpc/grpc-js";
import type { Agent, AgentWatchEvent, Run, RunWatchEvent, WatchRunsRequest } from "../../proto/gen/hodei/v1/control.js";
import type { ControlClient } from "../client.js";

export type Connection = "connecting" | "live" | "lost";

/** What was wrong the last time, for the banner (the controller's message, or grpc-js's). */
const reasonOf = (err: ServiceError): string => (err.details || err.message || "connection lost").split("\n")[0]!.slice(0, 200);

abstract class Feed<Ev> {
  connection: Connection = "connecting";
  lastError = "";
  /** Times the stream was reopened after a failure. */
  reconnects = 0;
  private stream?: ClientReadableStream<Ev>;
  private timer?: NodeJS.Timeout;
  private stopped = false;
  private failures = 0;
  private listeners = new Set<() => void>();

  constructor(protected readonly client: ControlClient) {}

  onChange(fn: () => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  protected changed(): void {
    for (const l of this.listeners) l();
  }

  start(): void {
    this.stopped = false;
    this.open();
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    this.stream?.cancel();
    this.stream = undefined;
  }

  protected abstract openStream(): ClientReadableStream<Ev>;
  protected abstract handle(ev: Ev): void;
  /** A failure with this code is not the connection: start over (a stale resume token). */
  protected restartOn(_err: ServiceError): boolean {
    return false;
  }

  private open(): void {
    const s = this.openStream();
    this.stream = s;
    s.on("data", (ev: Ev) => {
      if (this.stream !== s) return;
      this.failures = 0;
      if (this.connection !== "live") {
        this.connection = "live";
        this.lastError = "";
      }
      this.handle(ev);
    });
    const broke = (err: ServiceError | undefined): void => {
      if (this.stream !== s || this.stopped) return;
      this.stream = undefined;
      s.cancel();
      if (err && this.restartOn(err)) {
        this.open();
        return;
      }
      this.connection = "lost";
      this.lastError = err ? reasonOf(err) : "the controller closed the stream";
      this.changed();
      const delay = Math.min(2000, 100 * 2 ** Math.min(this.failures++, 5));
      this.timer = setTimeout(() => {
        this.reconnects += 1;
        this.open();
      }, delay);
    };
    s.on("error", (err: ServiceError) => broke(err));
    s.on("end", () => broke(undefined));
  }
}

export class RunFeed extends Feed<RunWatchEvent> {
  runs = new Map<string, Run>();
  /** The snapshot being received (replaces `runs` at snapshot_end); undefined between snapshots. */
  private incoming?: Map<string, Run>;
  private token = "";
  /** Whether the first snapshot has arrived. */
  ready = false;

  constructor(
    client: ControlClient,
    private readonly filter: Partial<WatchRunsRequest> = {},
  ) {
    super(client);
  }

  protected openStream(): ClientReadableStream<RunWatchEvent> {
    this.incoming = this.token ? undefined : new Map();
    return this.client.openWatchRuns({ snapshotLimit: 10_000, ...this.filter, resumeToken: this.token });
  }

  protected override restartOn(err: ServiceError): boolean {
    // A token this controller does not know (its database was replaced): take a fresh snapshot.
    if (err.code === status.INVALID_ARGUMENT && this.token) {
      this.token = "";
      return true;
    }
    return false;
  }

  protected handle(ev: RunWatchEvent): void {
    if (ev.kind === "reset") this.incoming = new Map();
    else if (ev.kind === "snapshot" && ev.run) (this.incoming ??= new Map()).set(ev.run.id, ev.run);
    else if (ev.kind === "snapshot_end") {
      this.runs = this.incoming ?? new Map();
      this.incoming = undefined;
      this.ready = true;
    } else if (ev.run) {
      const target = this.incoming ?? this.runs;
      if (ev.kind === "left") target.delete(ev.run.id);
      else target.set(ev.run.id, { ...ev.run, attempts: [] });
    }
    if (ev.resumeToken) this.token = ev.resumeToken;
    if (!this.incoming) this.changed();
  }
}

export class AgentFeed extends Feed<AgentWatchEvent> {
  agents = new Map<string, Agent>();
  private incoming?: Map<string, Agent>;

  protected openStream(): ClientReadableStream<AgentWatchEvent> {
    this.incoming = new Map();
    return this.client.openWatchAgents();
  }

  protected handle(ev: AgentWatchEvent): void {
    if (ev.kind === "snapshot" && ev.agent) this.incoming?.set(ev.agent.id, ev.agent);
    else if (ev.kind === "snapshot_end") {
      this.agents = this.incoming ?? this.agents;
      this.incoming = undefined;
    } else if (ev.agent) (this.incoming ?? this.agents).set(ev.agent.id, ev.agent);
    if (!this.incoming) this.changed();
  }
}
