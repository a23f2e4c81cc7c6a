/**
 * The controller process: one gRPC server carrying AgentService and
 * ControlService, over one store.
 */
import * as grpc from "@grpc/grpc-js";
import { pino, type Logger } from "pino";
import { AgentServiceService } from "../proto/gen/hodei/v1/agent.js";
import { ControlServiceService } from "../proto/gen/hodei/v1/control.js";
import { openStore, type Store } from "./store/db.js";
import { Dispatcher } from "./runs/dispatcher.js";
import { LogHub } from "./logs/hub.js";
import { connectHandler } from "./agents/service.js";
import { controlService } from "./api/control.js";
import { compileControllerOptions, type ControllerOptions } from "./config.js";
import { createGrpcServer } from "./grpc-options.js";
import { startLiveness } from "./agents/liveness.js";
import { startHttp } from "./http.js";
import { Health } from "./health.js";
import { acquireDataDirLock, type DataDirLock } from "./datadir-lock.js";

export interface Controller {
  /** HOST:PORT clients and agents dial. */
  readonly address: string;
  readonly store: Store;
  readonly dispatcher: Dispatcher;
  /** HOST:PORT of the HTTP health endpoints, when enabled. */
  readonly httpAddress?: string;
  stop(): Promise<void>;
}

export interface StartOptions extends ControllerOptions {
  logger?: Logger;
  /** An open store (tests); the controller does not close it. */
  store?: Store;
  /** The data-dir lock, when the caller already took it (embedded mode). */
  lock?: DataDirLock;
}

export async function startController(opts: StartOptions): Promise<Controller> {
  const o = compileControllerOptions(opts.store ? { ...opts, dataDir: opts.dataDir ?? "(given)" } : opts);
  const log = opts.logger ?? pino({ name: "controller" }, pino.destination(2));
  // PGlite loses writes when two processes open one data dir: hold its lock for our lifetime.
  let lock = opts.lock;
  if (!lock && !opts.store && "dataDir" in o.database) {
    const r = await acquireDataDirLock(o.database.dataDir);
    if (!r.held) {
      throw new Error(`the data dir ${o.database.dataDir} is in use by process ${r.pid}${r.address ? `, a controller at ${r.address}` : ""} (${r.reason})`);
    }
    lock = r.lock;
  }
  let store: Store;
  try {
    store = opts.store ?? (await openStore("url" in o.database ? { databaseUrl: o.database.url } : { dataDir: o.database.dataDir }));
  } catch (err) {
    if (!opts.lock) lock?.release();
    throw err;
  }
  const hub = new LogHub();
  const dispatcher = new Dispatcher(store.db, log);
  dispatcher.onEnded = (run) => hub.publishEnd(run);
  const server = createGrpcServer(o);
  const health = new Health();
  const agentDeps = { db: store.db, health, dispatcher, hub, log, heartbeatIntervalMs: o.heartbeatIntervalMs, maxAgentSlots: o.maxAgentSlots };
  server.addService(AgentServiceService, { connect: connectHandler(agentDeps) });
  server.addService(ControlServiceService, controlService({ db: store.db, dispatcher, hub }));
  const host = o.host.includes(":") ? `[${o.host}]` : o.host;
  let port: number;
  try {
    port = await new Promise<number>((resolve, reject) =>
      server.bindAsync(`${host}:${o.port}`, grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
    );
  } catch (err) {
    if (!opts.store) await store.close();
    if (!opts.lock) lock?.release();
    throw new Error(`cannot listen on ${host}:${o.port}: ${(err as Error).message}`, { cause: err });
  }
  const address = `${host}:${port}`;
  // Before we announce the address: a stop right after start must not race this write.
  try {
    await lock?.setAddress(address);
  } catch (err) {
    server.forceShutdown();
    if (!opts.store) await store.close();
    if (!opts.lock) await lock?.release();
    throw err;
  }
  log.info({ address, database: "url" in o.database ? "postgres" : "pglite" }, "controller listening");
  const stopLiveness = startLiveness({ ...agentDeps, lostAfterIntervals: o.agentLostAfter, unschedulableAfterMs: o.unschedulableAfterMs });
  let http: Awaited<ReturnType<typeof startHttp>> | undefined;
  if (o.http) {
    http = await startHttp(store.db, o.http.host, o.http.port);
    log.info({ address: http.address }, "http listening");
  }
  // Runs queued while no controller was up are placed as soon as agents connect; wake once anyway.
  dispatcher.wake();

  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> =>
    (stopping ??= (async () => {
      dispatcher.stop();
      await stopLiveness();
      await http?.close();
      for (const s of dispatcher.sessions.values()) s.close();
      await new Promise<void>((resolve) => {
        const t = setTimeout(() => {
          server.forceShutdown();
          resolve();
        }, o.shutdownGraceMs);
        server.tryShutdown(() => {
          clearTimeout(t);
          resolve();
        });
      });
      await dispatcher.settled();
      if (!opts.store) await store.close();
      if (!opts.lock) lock?.release();
      log.info("controller stopped");
    })());
  return { address, store, dispatcher, httpAddress: http?.address, stop };
}
