/**
 * AgentService.Connect: one stream per agent. Messages from an agent are
 * handled strictly in the order they arrive (a RunFinished is only applied
 * after every LogBatch before it is stored), through one promise chain per
 * session.
 */
import { randomUUID } from "node:crypto";
import { status, type ServerDuplexStream } from "@grpc/grpc-js";
import type { Logger } from "pino";
import type { AgentMessage, ControllerMessage, Hello } from "../../proto/gen/hodei/v1/agent.js";
import { upsertAgentIfFree, setAgentState, recordHeartbeat, getAgentByName } from "../store/agents.js";
import { activeRunsOfAgent, getRun, requeueAssigned, type Writer } from "../store/runs.js";
import { endAttempt } from "../runs/end-attempt.js";
import { runExecSpec } from "../runs/exec-spec.js";
import type { RunSecrets } from "../runs/exec-spec.js";
import type { RunRow } from "../store/schema.js";
import { AgentSession } from "./session.js";
import { ApiError, isDatabaseUnavailable, toServiceError } from "../api/errors.js";
import { admit, identify, refuse, type AgentCaller, type IdentityDeps } from "./identity.js";
import type { Health } from "../health.js";
import type { AgentRegistry } from "./registry.js";
import { handleRunStarted, handleLogBatch, handleRunFinished } from "./reports.js";
import { boundAgentMessage, clampSlots } from "./limits.js";

export interface AgentServiceDeps extends IdentityDeps {
  store: Writer;
  health: Health;
  agents: AgentRegistry;
  log: Logger;
  heartbeatIntervalMs: number;
  /** The most slots an agent gets, whatever it declares (default 256, config.ts). */
  maxAgentSlots?: number;
  /**
   * The secrets of a run (controller/secrets/resolve.ts), so that after a
   * reconnect the controller masks them again before it stores (as the
   * dispatcher's Assign did). Undefined: runs are resumed with no secret values to mask.
   */
  secretsOf?: (run: RunRow) => Promise<RunSecrets | undefined>;
  /** The most log bytes one attempt stores (config.ts; reports.ts enforces it). */
  maxLogBytes?: number;
  /** Silent heartbeat intervals before an agent is lost (default 3; liveness.ts): until then its name is not free to join under. */
  lostAfterIntervals?: number;
}

/** An agent that says nothing for this long after connecting is dropped. */
const HELLO_TIMEOUT_MS = 10_000;

export function connectHandler(deps: AgentServiceDeps) {
  return (call: ServerDuplexStream<AgentMessage, ControllerMessage>): void => {
    let session: AgentSession | undefined;
    const helloTimer = setTimeout(() => call.destroy(Object.assign(new Error("no Hello"), { code: status.DEADLINE_EXCEEDED })), HELLO_TIMEOUT_MS);

    const fail = (code: status, details: string): void => {
      clearTimeout(helloTimer);
      call.emit("error", { code, details });
      call.end();
    };
    const refused = (err: ApiError): void => {
      clearTimeout(helloTimer);
      call.emit("error", toServiceError(err, deps.log, "AgentService.Connect"));
      call.end();
    };
    const source = call.getPeer();
    // Who is calling, from the stream's metadata (identity.ts); the Hello is handled once that is known.
    let caller: AgentCaller | undefined;
    let chain: Promise<void> = identify(deps, call.metadata).then(
      async (r) => {
        if (r.ok) caller = r.caller;
        else refused(await refuse(deps, r, "AgentService.Connect", source));
      },
      (err: unknown) => {
        if (isDatabaseUnavailable(err)) deps.health.noteDatabaseTrouble();
        deps.log.warn({ err }, "cannot check an agent's credentials");
        fail(status.UNAVAILABLE, "the controller could not check the agent's credentials; retry shortly");
      },
    );

    call.on("data", (received: AgentMessage) => {
      const bounded = boundAgentMessage(received);
      chain = chain.then(async () => {
        if ("invalid" in bounded) return fail(status.INVALID_ARGUMENT, bounded.invalid);
        const { msg } = bounded;
        if (!caller) return; // refused above
        if (!session) {
          if (msg.msg?.$case !== "hello") return fail(status.INVALID_ARGUMENT, "the first message on AgentService.Connect must be Hello");
          clearTimeout(helloTimer);
          const who = caller;
          session = await welcome(deps, call, msg.msg.value, who, source).catch((err: Error) => {
            if (err instanceof ApiError) {
              refused(err);
              return undefined;
            }
            if (isDatabaseUnavailable(err)) deps.health.noteDatabaseTrouble();
            deps.log.warn({ err }, "agent hello failed");
            fail(status.UNAVAILABLE, `controller could not register the agent: ${err.message}`);
            return undefined;
          });
          return;
        }
        if (session.closed) return;
        await handle(deps, session, msg).catch((err: unknown) => {
          deps.log.warn({ err, agent: session?.name }, "agent message failed");
          // The message was not applied and not acknowledged. Closing the stream makes the
          // agent reconnect and resend everything unacknowledged, once the database is back.
          if (session && isDatabaseUnavailable(err)) {
            deps.health.noteDatabaseTrouble();
            deps.agents.remove(session);
            session.closed = true;
            fail(status.UNAVAILABLE, "the controller's database is unavailable; reconnect and resend");
          }
        });
      });
    });

    const closed = (): void => {
      clearTimeout(helloTimer);
      chain = chain.then(async () => {
        if (!session || session.closed) return;
        session.close();
        if (deps.agents.remove(session)) {
          await setAgentState(deps.store.db, session.id, "disconnected").catch(() => {});
        }
        deps.log.info({ agent: session.name }, "agent disconnected");
      });
    };
    call.on("end", closed);
    call.on("error", closed);
    call.on("cancelled", closed);
  };
}

/**
 * Accepts a Hello from `caller` (identity.ts), or throws an ApiError saying
 * why not (audited). An agent with a credential is the agent it names: its
 * Hello must carry that name, and its new stream replaces a half-open old
 * one. A join may not take the name of an agent that is connected; it may
 * take over a disconnected agent's name (the old credential stops working,
 * and the entry says so), as a re-installed machine does.
 */
async function welcome(deps: AgentServiceDeps, call: ServerDuplexStream<AgentMessage, ControllerMessage>, hello: Hello, caller: AgentCaller, source: string): Promise<AgentSession | undefined> {
  const name = hello.name.trim();
  if (!name || name.length > 253) throw new Error("agent name must be 1..253 characters");
  const deny = async (code: status, why: string, detail: Record<string, unknown>): Promise<never> => {
    await deps.audit({ actor: caller.actor, action: caller.kind === "join" ? "agent.join" : "agent.auth", target: `agent ${name}`, outcome: "denied", detail, source });
    throw new ApiError(code === status.ALREADY_EXISTS ? "conflict" : "permission", why, { code });
  };
  if (caller.kind === "credential" && caller.agent.name !== name) {
    await deny(status.PERMISSION_DENIED, `this agent's credential belongs to agent "${caller.agent.name}", but it says it is "${name}"; start it with --name ${caller.agent.name}, or give it a new work dir and a join token to join as "${name}"`, { reason: "name mismatch", credentialOf: caller.agent.name });
  }
  const slots = clampSlots(hello.slots, deps.maxAgentSlots);
  const live = deps.agents.byName(name);
  if (live && !live.closed) {
    if (caller.kind !== "credential") {
      await deny(status.ALREADY_EXISTS, `an agent named "${name}" is already connected; give each agent its own --name`, { reason: "name connected" });
    }
    // The same agent reconnecting over a half-open old stream: the new stream wins.
    deps.agents.remove(live);
    live.close();
  }
  let admission: Awaited<ReturnType<typeof admit>>;
  let replaced = false;
  // An agent silent for longer than this is not live (liveness.ts calls it lost after as long).
  const liveSince = new Date(Date.now() - deps.heartbeatIntervalMs * (deps.lostAfterIntervals ?? 3));
  const nameTaken = async (): Promise<never> =>
    deny(status.ALREADY_EXISTS, `an agent named "${name}" is connected (or was, until less than ${Math.round((Date.now() - liveSince.getTime()) / 1000)} s ago); give each agent its own --name, and keep an agent's work dir, which holds its credential, across restarts`, { reason: "name connected" });
  if (caller.kind === "join") {
    // Connected here, or to another controller of this database: the name is not free.
    const existing = await getAgentByName(deps.store.db, name);
    if (existing && (existing.state === "connected" || existing.state === "draining") && existing.last_seen_at >= liveSince) await nameTaken();
    replaced = Boolean(existing?.credential_hash);
    admission = await admit(deps, caller);
    if (!admission) await deny(status.UNAUTHENTICATED, "the join token was used up or revoked meanwhile; make a new one with `hodei agents token create`", { reason: "used join token" });
  }
  // Labels a join token fixed win over what the agent declares.
  const fixed = caller.kind === "credential" ? caller.agent.fixed_labels : caller.fixedLabels;
  const overridden = Object.keys(fixed).filter((k) => k in hello.labels && hello.labels[k] !== fixed[k]);
  if (overridden.length) deps.log.warn({ agent: name, labels: overridden }, "the agent declares labels its join token fixed; the token's values apply");
  const labels = { ...hello.labels, ...fixed };
  const joined = admission ? { credentialHash: admission.credentialHash, fixedLabels: admission.fixedLabels, joinedWith: admission.joinedWith } : undefined;
  const row = await upsertAgentIfFree(deps.store.db, {
    id: `a-${randomUUID()}`,
    name,
    labels,
    slots,
    version: hello.version,
    killMethod: hello.killMethod,
    joined,
    // A join racing another for the name: the database decides, in the write itself.
    unlessLiveSince: joined ? liveSince : undefined,
  });
  if (!row) return nameTaken();
  if (admission) {
    await deps.audit({ actor: caller.actor, action: "agent.join", target: `agent ${name}`, outcome: "allowed", detail: { agentId: row.id, labels, slots, ...(replaced ? { replaced: true } : {}) }, source });
  }
  const session = new AgentSession(row.id, name, labels, slots, hello.version, hello.killMethod, call);
  // An agent that says it is draining (it reconnected after its SIGTERM or a drain) takes no new work.
  if (hello.draining) {
    session.draining = true;
    await setAgentState(deps.store.db, row.id, "draining");
  }
  // A new credential goes to the agent once, here; it keeps it (0600, in its work dir) and presents it from then on.
  session.send({ msg: { $case: "welcome", value: { agentId: row.id, heartbeatIntervalMs: deps.heartbeatIntervalMs, sessionToken: admission?.credential ?? "" } } });
  await reconcile(deps, session, hello);
  // Registering it wakes whoever waits for agents (the dispatcher, the embedded CLI).
  deps.agents.add(session);
  deps.log.info({ agent: name, id: row.id, slots, labels: hello.labels, draining: session.draining }, "agent connected");
  return session;
}

/**
 * After a (re)connect, agree with the agent on what it is running: runs it
 * still has and we think active are kept (and it is told from which sequence
 * to resend logs); runs it has that are over are acknowledged or cancelled;
 * runs we gave it that it no longer has are requeued (never started) or
 * failed as infrastructure (it restarted while running them).
 */
async function reconcile(deps: AgentServiceDeps, session: AgentSession, hello: Hello): Promise<void> {
  const reported = new Map(hello.activeRuns.map((r) => [r.runId, r]));
  for (const r of hello.activeRuns) {
    const run = await getRun(deps.store.db, r.runId);
    const ours = run && run.agent_id === session.id && run.attempt === r.attempt && (run.state === "assigned" || run.state === "running");
    if (ours) {
      const nextSeq = Number(run.log_chunks);
      // The values to mask again, as the Assign had them, its secrets' values included (the repo matters not to them).
      const secrets = await deps.secretsOf?.(run).catch((err: unknown) => void deps.log.warn({ err, run: run.id }, "cannot read a resumed run's secrets to mask them"));
      session.running.set(run.id, { attempt: run.attempt, nextSeq, maskValues: runExecSpec(run, undefined, secrets ?? undefined).maskValues });
      session.send({ msg: { $case: "logAck", value: { runId: run.id, attempt: run.attempt, nextSeq, endRecorded: false } } });
      if (run.cancel_requested && !r.finished) session.send({ msg: { $case: "cancel", value: { runId: run.id, attempt: run.attempt, reason: "cancelled while the agent was away", graceMs: 0 } } });
    } else {
      // Over or not ours: let the agent forget it, and stop it if it still runs.
      session.send({ msg: { $case: "logAck", value: { runId: r.runId, attempt: r.attempt, nextSeq: r.nextSeq, endRecorded: true } } });
      if (!r.finished) session.send({ msg: { $case: "cancel", value: { runId: r.runId, attempt: r.attempt, reason: "the controller no longer expects this run", graceMs: 0 } } });
    }
  }
  for (const run of await activeRunsOfAgent(deps.store.db, session.id)) {
    if (reported.has(run.id)) continue;
    if (run.state === "assigned") {
      await requeueAssigned(deps.store, run.id, run.attempt);
    } else {
      await endAttempt(deps.store, run.id, run.attempt, {
        reason: "infrastructure", exitCode: null, signal: null, message: `agent ${session.name} restarted and no longer has this run`, at: new Date(),
      });
    }
  }
}

async function handle(deps: AgentServiceDeps, session: AgentSession, msg: AgentMessage): Promise<void> {
  session.lastSeen = Date.now();
  switch (msg.msg?.$case) {
    case "heartbeat": {
      const hb = msg.msg.value;
      session.heartbeat = { cpuPercent: hb.cpuPercent, memoryUsedBytes: hb.memoryUsedBytes, memoryTotalBytes: hb.memoryTotalBytes, load1: hb.load1, running: hb.running, agentRssBytes: hb.agentRssBytes };
      await recordHeartbeat(deps.store.db, session.id, session.heartbeat);
      return;
    }
    case "runStarted":
      return handleRunStarted(deps, session, msg.msg.value);
    case "logBatch":
      return handleLogBatch(deps, session, msg.msg.value);
    case "runFinished":
      return handleRunFinished(deps, session, msg.msg.value);
    case "goingAway":
      session.draining = true;
      await setAgentState(deps.store.db, session.id, "draining");
      deps.log.info({ agent: session.name, reason: msg.msg.value.reason }, "agent going away");
      return;
    case "hello":
      deps.log.warn({ agent: session.name }, "ignoring a second Hello on one stream");
      return;
    case undefined:
      return;
  }
}
