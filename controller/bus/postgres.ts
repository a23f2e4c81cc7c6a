/**
 * PostgresBus: LISTEN/NOTIFY on one dedicated connection (not the pool: a
 * pooled connection would stop listening when returned). Store writes carry
 * their NOTIFY inside the committing statement (`notifies`), so another
 * process hears a change only once it is durable. Our own notifications come
 * back to us too; they are dropped by origin, since `emit` delivered them at
 * commit.
 *
 * Log appends are the exception to "inside the committing statement": they
 * are forwarded after the commit, coalesced per run (forwardLog), since a log
 * flood would otherwise cost one NOTIFY per batch; still never before the
 * chunks are durable.
 *
 * The connection is re-established with backoff whenever it is lost. Events
 * sent while it was down are gone, so after every reconnect listeners get
 * `bus:resync` and re-read what they watch (the catch-up query).
 */
import { randomUUID } from "node:crypto";
import pg from "pg";
import type { Bus } from "./bus.js";
import { Listeners } from "./bus.js";
import type { HodeiEvent, Listener, LogAppended } from "./events.js";
import { CHANNEL, decode, encode } from "./wire.js";

export interface PostgresBusOptions {
  connectionString: string;
  /** Sends one NOTIFY (through the store's pool). */
  notify: (channel: string, payload: string) => Promise<void>;
  onListenerError?: (err: unknown, ev: HodeiEvent) => void;
  /** Told when the listening connection is lost or comes back (logging). */
  onConnectionChange?: (up: boolean, err?: unknown) => void;
  /** Reconnect backoff bounds (ms). */
  minBackoffMs?: number;
  maxBackoffMs?: number;
}

export class PostgresBus implements Bus {
  readonly notifies = true;
  readonly origin = randomUUID().slice(0, 12);
  private readonly listeners: Listeners;
  private client: pg.Client | undefined;
  private closed = false;
  private everConnected = false;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private backoffMs: number;
  private starting: Promise<void> | undefined;
  /** Runs with a log NOTIFY in flight, and the newest event waiting behind it. */
  private readonly logInFlight = new Map<string, LogAppended | undefined>();

  constructor(private readonly opts: PostgresBusOptions) {
    this.listeners = new Listeners(opts.onListenerError);
    this.backoffMs = opts.minBackoffMs ?? 100;
  }

  /** The backend pid of the listening connection (tests terminate it). */
  get listenerPid(): number | undefined {
    return (this.client as unknown as { processID?: number } | undefined)?.processID;
  }

  get listening(): boolean {
    return this.client !== undefined;
  }

  emit(ev: HodeiEvent): void {
    this.listeners.deliver(ev);
  }

  async publish(ev: HodeiEvent): Promise<void> {
    await this.opts.notify(CHANNEL, encode(ev, this.origin));
    this.emit(ev);
  }

  forwardLog(ev: LogAppended): void {
    const key = `${ev.runId}#${ev.attempt}`;
    if (this.logInFlight.has(key)) {
      this.logInFlight.set(key, ev);
      return;
    }
    this.logInFlight.set(key, undefined);
    const send = (e: LogAppended): void => {
      this.opts
        .notify(CHANNEL, encode({ type: e.type, runId: e.runId, attempt: e.attempt, nextSeq: e.nextSeq }, this.origin))
        .catch(() => {
          // Best-effort: a follower elsewhere still gets every byte, from the store, at the run's end or a resync.
        })
        .finally(() => {
          const next = this.logInFlight.get(key);
          if (next && !this.closed) {
            this.logInFlight.set(key, undefined);
            send(next);
          } else {
            this.logInFlight.delete(key);
          }
        });
    };
    send(ev);
  }

  subscribe(listener: Listener): () => void {
    return this.listeners.add(listener);
  }

  start(): Promise<void> {
    return (this.starting ??= this.connect());
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.reconnectTimer);
    const c = this.client;
    this.client = undefined;
    await c?.end().catch(() => {});
  }

  private async connect(): Promise<void> {
    const client = new pg.Client({ connectionString: this.opts.connectionString });
    const lost = (err?: unknown): void => {
      if (this.client !== client) return;
      this.client = undefined;
      client.end().catch(() => {});
      this.opts.onConnectionChange?.(false, err);
      this.scheduleReconnect();
    };
    client.on("error", lost);
    client.on("end", () => lost());
    client.on("notification", (msg) => {
      if (msg.channel !== CHANNEL || !msg.payload) return;
      const decoded = decode(msg.payload);
      if (!decoded || decoded.origin === this.origin) return;
      this.emit(decoded.event);
    });
    try {
      await client.connect();
      await client.query(`listen ${CHANNEL}`);
    } catch (err) {
      client.removeAllListeners("end");
      await client.end().catch(() => {});
      client.on("error", () => {});
      if (this.closed) return;
      if (!this.everConnected) throw err;
      this.opts.onConnectionChange?.(false, err);
      this.scheduleReconnect();
      return;
    }
    if (this.closed) {
      await client.end().catch(() => {});
      return;
    }
    this.client = client;
    this.backoffMs = this.opts.minBackoffMs ?? 100;
    const reconnected = this.everConnected;
    this.everConnected = true;
    if (reconnected) {
      this.opts.onConnectionChange?.(true);
      // Whatever was announced while we were deaf is lost: every listener catches up from the store.
      this.emit({ type: "bus:resync" });
    }
  }

  private scheduleReconnect(): void {
    if (this.closed || this.reconnectTimer) return;
    const max = this.opts.maxBackoffMs ?? 5_000;
    const wait = this.backoffMs / 2 + (Math.random() * this.backoffMs) / 2;
    this.backoffMs = Math.min(max, this.backoffMs * 2);
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = undefined;
      void this.connect();
    }, wait);
    this.reconnectTimer.unref();
  }
}
