/**
 * A TCP proxy on 127.0.0.1:<free port> in front of a target, that a test can
 * partition: an agent dials the proxy instead of the controller.
 *
 *   const proxy = await startProxy(controller.address);
 *   proxy.cut();    // a black hole: connections stay open, nothing moves either way
 *   proxy.heal();   // everything held moves again, in order
 *   proxy.reset();  // every connection is destroyed (RST) on both sides
 *   await proxy.close();
 *
 * While cut, nothing is read from either side, so the kernel's socket buffers
 * fill and the peers' writes stall, as on a network that drops every packet;
 * a FIN or RST from one side is not passed on until heal (it would not cross a
 * partition either). A connection made during a cut is accepted (the kernel
 * does that before we could refuse it) but the target is only dialled at heal,
 * like a SYN retransmitted until the network is back.
 *
 * This is the fallback, chosen on purpose. Network namespaces were tried
 * here: as root `ip netns add` and veth pairs work, but the kernel has no
 * netem qdisc (`tc qdisc add ... netem loss 100%`: "Specified qdisc kind is
 * unknown") and there is no iptables, so nothing here drops packets silently
 * in both directions short of taking the link down (not tried); and using a
 * namespace means spawning the agent under `ip netns exec` and the
 * controller on a veth address instead of loopback (test/helpers/procs.ts
 * spawns both directly on 127.0.0.1), with global interfaces that outlive a
 * killed test. Not cheap, so: the proxy. The one difference it makes: TCP
 * keepalive probes between the agent and the proxy are still answered;
 * HTTP/2 PINGs (gRPC keepalive) and everything else are not, so no
 * application-level check can see through the cut.
 */
import { createServer, connect, type Server, type Socket } from "node:net";

export interface TcpProxy {
  /** 127.0.0.1:PORT to dial instead of the target. */
  readonly address: string;
  readonly port: number;
  readonly target: string;
  /** Whether a cut is in force. */
  readonly isCut: boolean;
  /** Connections open through the proxy now. */
  readonly connections: number;
  /** Stop moving bytes both ways on every connection, new ones too; close nothing. */
  cut(): void;
  /** Move bytes again; pass on what was held (data, then FIN/RST), dial held new connections. */
  heal(): void;
  /** Destroy every connection (both sides, with RST where possible). */
  reset(): void;
  /** Stop listening and destroy every connection. */
  close(): Promise<void>;
}

function parseTarget(target: string): { host: string; port: number } {
  const m = /^(\[[^\]]+\]|[^:]+):(\d+)$/.exec(target);
  if (!m) throw new Error(`proxy target must be HOST:PORT, got ${JSON.stringify(target)}`);
  return { host: m[1]!.replace(/^\[|\]$/g, ""), port: Number(m[2]) };
}

function destroyHard(s: Socket | undefined): void {
  if (!s || s.destroyed) return;
  // resetAndDestroy sends RST (Node ≥ 16.17/18.3); it throws on a socket that is not connected yet.
  try {
    s.resetAndDestroy();
  } catch {
    s.destroy();
  }
}

/** One proxied connection: client ⇄ upstream, with a cut switch per direction. */
class Link {
  upstream?: Socket;
  /** What to do when the cut heals: FINs and closes that arrived during it. */
  private held: (() => void)[] = [];
  private closed = false;
  /** A direction waits for the other side's 'drain' (backpressure), independent of cuts. */
  private waitingDrain = { up: false, down: false };

  constructor(
    readonly client: Socket,
    private readonly proxy: ProxyState,
  ) {
    client.pause();
    client.setNoDelay(true);
    client.on("error", () => this.peerGone("client"));
    client.on("close", () => this.peerGone("client"));
    if (!proxy.cut) this.dial();
  }

  dial(): void {
    if (this.upstream || this.closed) return;
    const up = connect({ host: this.proxy.host, port: this.proxy.targetPort, allowHalfOpen: true });
    this.upstream = up;
    up.pause();
    up.setNoDelay(true);
    up.on("error", () => this.peerGone("upstream"));
    up.on("close", () => this.peerGone("upstream"));
    up.once("connect", () => {
      this.pipe(this.client, up, "up");
      this.pipe(up, this.client, "down");
      this.flow();
    });
  }

  private pipe(from: Socket, to: Socket, dir: "up" | "down"): void {
    from.on("data", (d: Buffer) => {
      if (to.destroyed) return;
      if (!to.write(d)) {
        this.waitingDrain[dir] = true;
        from.pause();
      }
    });
    to.on("drain", () => {
      this.waitingDrain[dir] = false;
      if (!this.proxy.cut) from.resume();
    });
    from.on("end", () => this.whenFlowing(() => to.end()));
  }

  /** Resume reading on both sides, except where the other side pushes back. */
  flow(): void {
    if (this.proxy.cut || !this.upstream || this.upstream.connecting) return;
    if (!this.waitingDrain.up) this.client.resume();
    if (!this.waitingDrain.down) this.upstream.resume();
  }

  stop(): void {
    this.client.pause();
    this.upstream?.pause();
  }

  heal(): void {
    if (!this.upstream) this.dial();
    const held = this.held;
    this.held = [];
    for (const fn of held) fn();
    this.flow();
  }

  private whenFlowing(fn: () => void): void {
    if (this.proxy.cut) this.held.push(fn);
    else fn();
  }

  /** One side closed (or failed): the other follows, once no cut is in the way. */
  private peerGone(side: "client" | "upstream"): void {
    const other = side === "client" ? this.upstream : this.client;
    this.whenFlowing(() => {
      // Let what was already written go out first: end() then destroy when done.
      if (other && !other.destroyed) {
        other.end();
        setTimeout(() => other.destroy(), 1_000).unref();
      }
      this.forget();
    });
  }

  destroy(): void {
    destroyHard(this.client);
    destroyHard(this.upstream);
    this.forget();
  }

  private forget(): void {
    this.closed = true;
    this.proxy.links.delete(this);
  }
}

interface ProxyState {
  host: string;
  targetPort: number;
  cut: boolean;
  links: Set<Link>;
}

/** A proxy on 127.0.0.1, port chosen by the system, forwarding to `target` (HOST:PORT). */
export async function startProxy(target: string): Promise<TcpProxy> {
  const { host, port: targetPort } = parseTarget(target);
  const state: ProxyState = { host, targetPort, cut: false, links: new Set() };
  const server: Server = createServer({ pauseOnConnect: true, allowHalfOpen: true }, (client) => {
    state.links.add(new Link(client, state));
  });
  const port = await new Promise<number>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const a = server.address();
      if (a && typeof a === "object") resolve(a.port);
      else reject(new Error("proxy has no address"));
    });
  });
  return {
    address: `127.0.0.1:${port}`,
    port,
    target,
    get isCut() {
      return state.cut;
    },
    get connections() {
      return state.links.size;
    },
    cut() {
      state.cut = true;
      for (const l of state.links) l.stop();
    },
    heal() {
      state.cut = false;
      for (const l of [...state.links]) l.heal();
    },
    reset() {
      for (const l of [...state.links]) l.destroy();
    },
    close() {
      for (const l of [...state.links]) l.destroy();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
