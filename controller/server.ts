/**
 * The controller process: one gRPC server carrying AgentService and
 * ControlService, over one store and its bus. Parts start in order and each
 * registers its release (controller/releasers.ts); a failed start or stop()
 * releases them in reverse.
 */
import { chmodSync } from "node:fs";
import { pino, type Logger } from "pino";
import { AgentServiceService } from "../proto/gen/hodei/v1/agent.js";
import { fetchSourceHandler } from "./agents/fetch-source.js";
import { readStdinHandler } from "./agents/read-stdin.js";
import { ControlServiceService } from "../proto/gen/hodei/v1/control.js";
import { GitOpsServiceService } from "../proto/gen/hodei/v1/gitops.js";
import { SecretsServiceService } from "../proto/gen/hodei/v1/secrets.js";
import { secretsService } from "./api/secrets.js";
import { SubmitLimiter } from "./api/limits.js";
import { Keyring, type KeyringOptions } from "./secrets/keyring.js";
import { resolveRunSecrets } from "./secrets/resolve.js";
import type { RunRow } from "./store/schema.js";
import { gitopsService } from "./api/gitops.js";
import { Syncer } from "./gitops/sync.js";
import { pushesFromSync } from "./gitops/pushes.js";
import { applyConfigRepos } from "./gitops/config-repos.js";
import { startPoller } from "./gitops/poller.js";
import { StatusReporter } from "./gitops/status.js";
import { repoScheduledJobs, startTickHousekeeping } from "./gitops/scheduled-jobs.js";
import { Scheduler, type Clock } from "./scheduler/scheduler.js";
import { webhookRoute } from "./gitops/webhooks.js";
import { openStore, type Store } from "./store/db.js";
import { Dispatcher } from "./runs/dispatcher.js";
import { LogHub } from "./logs/hub.js";
import { connectHandler } from "./agents/service.js";
import { AgentRegistry } from "./agents/registry.js";
import { startDelivery } from "./agents/delivery.js";
import { controlService } from "./api/control.js";
import { compileControllerOptions, type ControllerOptions } from "./config.js";
import { createGrpcServer } from "./grpc-options.js";
import { startLiveness } from "./agents/liveness.js";
import { startHttp } from "./http.js";
import { Health } from "./health.js";
import { acquireDataDirLock, type DataDirLock } from "./datadir-lock.js";
import { Releasers } from "./releasers.js";
import { loadServerTls, serverCredentials, tlsMode } from "./tls.js";
import { plaintextWarning } from "./listen-security.js";
import { join } from "node:path";
import { AuthServiceService } from "../proto/gen/hodei/v1/auth.js";
import { authService } from "./api/auth.js";
import { auditor } from "./auth/audit.js";
import { hashToken } from "./auth/tokens.js";
import { SEED_SHAPE } from "./agents/identity.js";
import { joinTokenService } from "./api/join-tokens.js";
import { bootstrapAdmin } from "./auth/bootstrap.js";
import { guard } from "./auth/guard.js";

export interface Controller {
  /** HOST:PORT clients and agents dial. */
  readonly address: string;
  /** How the gRPC listener is secured (controller/tls.ts). */
  readonly tls: ReturnType<typeof tlsMode>;
  readonly store: Store;
  readonly dispatcher: Dispatcher;
  /** The agents connected to this process. */
  readonly agents: AgentRegistry;
  /** HOST:PORT of the HTTP listener (health, webhooks), when enabled. */
  readonly httpAddress?: string;
  /** The schedule loop (tests wait for its passes). */
  readonly scheduler: Scheduler;
  stop(): Promise<void>;
}

export interface StartOptions extends ControllerOptions {
  logger?: Logger;
  /** An open store (tests); the controller does not close it. */
  store?: Store;
  /** The data-dir lock, when the caller already took it (embedded mode); the controller does not release it. */
  lock?: DataDirLock;
  /** Listen on this unix socket (mode 0600) instead of `listen`; the address becomes `unix:<path>` (embedded daemon). */
  socket?: string;
  /** Accept runs in place (`hodei run --in-place`, api/in-place.ts): the embedded daemon only, whose one agent is on the submitter's machine. */
  allowInPlace?: boolean;
  /** Called at the start of every ControlService call with the call (the embedded daemon's idle clock; it watches streams until they close). */
  onClientCall?: (call: unknown) => void;
  /** The schedule loop's clock (tests). */
  scheduleClock?: Clock;
  /** How long a webhook's answer waits for its sync and runs before saying 202 (default 4 s; tests wait longer). */
  webhookReplyWithinMs?: number;
  /** The first admin token (default: HODEI_ADMIN_TOKEN); see controller/auth/bootstrap.ts. */
  adminToken?: string;
  /** --admin-token-file: the first admin token, or where a new one is written. */
  adminTokenFile?: string;
  /**
   * The seed join token for agents (default: HODEI_AGENT_JOIN_TOKEN): reusable
   * and never expiring, for hand-started agents and the embedded daemon's own
   * (controller/agents/identity.ts). Any 32 to 256 printable characters.
   */
  agentJoinToken?: string;
  /** The embedded daemon: its admin token file is made whenever it is missing (its owner's CLI reads it). */
  embedded?: boolean;
  /** Where the master key for secrets comes from (controller/secrets/keyring.ts); none: secrets cannot be set. */
  masterKey?: KeyringOptions;
}

/** Every handler of `service`, calling `before` first (the embedded daemon's idle clock). */
function wrapCalls<T extends object>(service: T, before: (call: unknown) => void): T {
  return Object.fromEntries(Object.entries(service).map(([k, h]) => [k, (...a: unknown[]) => (before(a[0]), (h as (...x: unknown[]) => unknown)(...a))])) as T;
}

export async function startController(opts: StartOptions): Promise<Controller> {
  const o = compileControllerOptions(opts.store ? { ...opts, dataDir: opts.dataDir ?? "(given)" } : opts);
  const log = opts.logger ?? pino({ name: "controller" }, pino.destination(2));
  const parts = new Releasers((name, err) => log.warn({ err, part: name }, "release failed"));
  // TLS files first: a wrong path fails the start before the database is opened.
  const tls = o.tls && !opts.socket ? await loadServerTls(o.tls) : undefined;
  for (const w of tls?.warnings ?? []) log.warn(w);

  // PGlite loses writes when two processes open one data dir: hold its lock for our lifetime.
  let lock = opts.lock;
  if (!lock && !opts.store && "dataDir" in o.database) {
    const dataDir = o.database.dataDir;
    lock = await parts.start(
      "data-dir lock",
      async () => {
        const r = await acquireDataDirLock(dataDir);
        if (!r.held) throw new Error(`the data dir ${dataDir} is in use by process ${r.pid}${r.address ? `, a controller at ${r.address}` : ""} (${r.reason})`);
        return r.lock;
      },
      (l) => l.release(),
    );
  }
  const store =
    opts.store ??
    (await parts.start(
      "store",
      () =>
        openStore({
          ...("url" in o.database ? { databaseUrl: o.database.url } : { dataDir: o.database.dataDir }),
          onListenerError: (err, ev) => log.error({ err, event: ev.type }, "an event listener failed"),
          onBusConnectionChange: (up, err) => (up ? log.info("event bus listening again; catching up") : log.warn({ err }, "event bus connection lost; reconnecting")),
        }),
      (s) => s.close(),
    ));
  if (store.created) log.info({ dataDir: "dataDir" in o.database ? o.database.dataDir : undefined, from: store.created }, store.created === "template" ? "new database, copied from the template" : "new database, made by initdb");
  // Hear other processes on this database before anything can announce.
  await parts.start("bus", () => store.bus.start(), () => {});

  const keyring = new Keyring(opts.masterKey ?? {});
  const agents = new AgentRegistry();
  const hub = await parts.start("log hub", () => new LogHub(store.bus), (h) => h.close());
  const secretsOf = (run: RunRow) => resolveRunSecrets(store.db, keyring, run);
  const dispatcher = await parts.start(
    "dispatcher",
    () => new Dispatcher(store, agents, log, secretsOf),
    async (d) => {
      d.stop();
      await d.settled();
    },
  );
  await parts.start("delivery", () => startDelivery({ db: store.db, bus: store.bus, agents, log }), (unsubscribe) => unsubscribe());
  const health = new Health();
  const agentDeps = { store, health, agents, log, heartbeatIntervalMs: o.heartbeatIntervalMs, maxAgentSlots: o.maxAgentSlots, lostAfterIntervals: o.agentLostAfter, maxLogBytes: o.maxLogBytes, secretsOf };

  // Access control (controller/auth/): the first admin token, then every client call behind one gate.
  const audit = auditor(store.db, log);
  await parts.start(
    "admin token",
    () =>
      bootstrapAdmin(
        store.db,
        {
          adminToken: opts.adminToken ?? process.env.HODEI_ADMIN_TOKEN,
          adminTokenFile: opts.adminTokenFile,
          ensureFile: opts.embedded,
          defaultFile: !opts.store && "dataDir" in o.database ? join(o.database.dataDir, "admin.token") : "hodei-admin.token",
        },
        log,
      ),
    () => {},
  );
  const gate = { db: store.db, audit, log };
  const seed = opts.agentJoinToken ?? process.env.HODEI_AGENT_JOIN_TOKEN;
  if (seed !== undefined && seed !== "" && !SEED_SHAPE.test(seed)) {
    throw new Error("the agent join token (HODEI_AGENT_JOIN_TOKEN) must be 32 to 256 printable characters without spaces, e.g. the output of `openssl rand -hex 32`");
  }
  if (seed) log.warn("agents may join with the reusable join token HODEI_AGENT_JOIN_TOKEN; single-use tokens (`hodei agents token create`) are safer (docs/security.md)");
  const identity = { db: store.db, audit, seedHash: seed ? hashToken(seed) : undefined };

  const server = createGrpcServer(o);
  server.addService(AgentServiceService, {
    connect: connectHandler({ ...agentDeps, ...identity }),
    fetchSource: fetchSourceHandler({ store, log, ...identity }),
    readStdin: readStdinHandler({ store, hub, log, ...identity }),
  });
  const limiter = new SubmitLimiter({ ratePerSec: o.submitRatePerSec, maxQueuedPerProject: o.maxQueuedPerProject });
  const control = controlService({ store, agents, hub, log, maxStdinBytes: o.maxStdinBytes, allowInPlace: opts.allowInPlace, limiter });
  const onCall = opts.onClientCall;
  const handlers = onCall ? wrapCalls(control, onCall) : control;
  server.addService(ControlServiceService, guard(ControlServiceService, handlers, gate));
  const auth = { ...authService({ db: store.db, log }), ...joinTokenService({ db: store.db, bus: store.bus, log }) };
  server.addService(AuthServiceService, guard(AuthServiceService, onCall ? wrapCalls(auth, onCall) : auth, gate));
  // Commit statuses back to GitHub for runs of GitHub repos with a token (off the run's path; once across controllers).
  const statuses = await parts.start(
    "commit statuses",
    () => {
      const r = new StatusReporter({ store, log: log.child({ part: "commit-status" }), apiUrl: o.githubApiUrl });
      r.start();
      return r;
    },
    (r) => r.stop(),
  );
  const syncer = new Syncer(store.db, o.mirrorsDir, log, pushesFromSync(store, log, statuses.onPushOutcome));
  if (opts.repos?.length) await applyConfigRepos(store.db, syncer, opts.repos, log);
  const gitops = gitopsService({ store, syncer, log, statusErrors: (repoId) => statuses.errors(repoId), limiter });
  server.addService(GitOpsServiceService, guard(GitOpsServiceService, onCall ? wrapCalls(gitops, onCall) : gitops, gate));
  const secrets = secretsService({ store, keyring, log });
  server.addService(SecretsServiceService, guard(SecretsServiceService, onCall ? wrapCalls(secrets, onCall) : secrets, gate));
  const host = opts.socket ? `unix:${opts.socket}` : o.host.includes(":") ? `[${o.host}]` : o.host;
  const bindTo = opts.socket ? host : `${host}:${o.port}`;
  const port = await parts.start(
    "grpc server",
    () =>
      new Promise<number>((resolve, reject) =>
        server.bindAsync(bindTo, serverCredentials(tls, { handshakeTimeoutMs: o.handshakeTimeoutMs, log }), (err, p) =>
          err ? reject(new Error(`cannot listen on ${bindTo}: ${err.message}`, { cause: err })) : resolve(p),
        ),
      ),
    () =>
      new Promise<void>((resolve) => {
        // Agents' streams never end by themselves: close them, then let open calls finish within the grace.
        for (const s of agents.all()) s.close();
        const t = setTimeout(() => {
          server.forceShutdown();
          resolve();
        }, o.shutdownGraceMs);
        server.tryShutdown(() => {
          clearTimeout(t);
          resolve();
        });
      }),
  );
  const address = opts.socket ? host : `${host}:${port}`;
  // Only the owner may connect: the socket's mode, on top of its 0700 directory.
  if (opts.socket) chmodSync(opts.socket, 0o600);
  // Before we announce the address: a stop right after start must not race this write.
  if (lock) await parts.start("lock address", () => lock.setAddress(address), () => {});
  log.info({ address, database: "url" in o.database ? "postgres" : "pglite", tls: tlsMode(tls), ...(tls && { certificateExpires: tls.notAfter.toISOString() }) }, "controller listening");
  const plaintext = { tls: tls !== undefined, insecure: o.insecure };
  const grpcWarning = opts.socket ? undefined : plaintextWarning("grpc", o.host, plaintext);
  if (grpcWarning) log.warn({ address }, grpcWarning);
  await parts.start(
    "liveness",
    () => startLiveness({ ...agentDeps, lostAfterIntervals: o.agentLostAfter, unschedulableAfterMs: o.unschedulableAfterMs, startDeadlineMs: o.startDeadlineMs }),
    (stop) => stop(),
  );
  let httpAddress: string | undefined;
  if (o.http) {
    const { host: h, port: p } = o.http;
    const routes = [
      webhookRoute({
        store,
        syncer,
        log,
        replyWithinMs: opts.webhookReplyWithinMs,
        onPushOutcome: statuses.onPushOutcome,
        onRejected: (r) =>
          audit({ actor: `webhook:${r.provider}`, action: "webhook.reject", target: r.repoId ? `repo id ${r.repoId}` : "", outcome: "denied", detail: { status: r.status, reason: r.outcome, event: r.event, delivery: r.deliveryId } }),
      }),
    ];
    const http = await parts.start("http", () => startHttp(store.db, h, p, routes, tls), (x) => x.close());
    httpAddress = http.address;
    log.info({ address: http.address, tls: tls ? "on" : "off" }, "http listening");
    const httpWarning = plaintextWarning("http", h, plaintext);
    if (httpWarning) log.warn({ address: http.address }, httpWarning);
  }
  await parts.start("poller", () => startPoller(store.db, syncer, log), (stop) => stop());
  // Schedules: the jobs at each repo's head; a sync may have changed them, so it wakes the loop.
  const { scheduler } = await parts.start(
    "scheduler",
    async () => {
      const scheduler = new Scheduler({
        store,
        jobs: repoScheduledJobs(store.db).jobs,
        catchUpWindowMs: o.scheduleCatchUpMs,
        clock: opts.scheduleClock,
        onFired: (job, tick, runId) => log.info({ job, tick: tick.toISOString(), run: runId }, "schedule started a run"),
        onError: (err, job) => log.warn({ err, job }, "schedule pass failed"),
      });
      const unsubscribe = syncer.onSynced(() => scheduler.poke());
      await scheduler.start();
      return { scheduler, unsubscribe };
    },
    async ({ scheduler, unsubscribe }) => {
      unsubscribe();
      await scheduler.stop();
    },
  );
  await parts.start("schedule housekeeping", () => startTickHousekeeping(store.db, log), (stop) => stop());
  // Runs queued while no controller was up are placed as soon as agents connect; wake once anyway.
  dispatcher.wake();

  const stop = async (): Promise<void> => {
    await parts.releaseAll();
    log.info("controller stopped");
  };
  return { address, tls: tlsMode(tls), store, dispatcher, agents, httpAddress, scheduler, stop };
}
