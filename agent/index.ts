// Public face of the agent: startAgent() and the Agent handle. `hodei agent`
// is a thin wrapper around this; tests start agents in-process through it.
import type { ActiveRun } from "../proto/gen/hodei/v1/agent.js";
import { AgentRuntime } from "./agent.js";
import { compileAgentOptions, type AgentOptions, type CompiledAgentOptions } from "./config.js";
import { shutdown } from "./shutdown.js";

export { compileAgentOptions, DEFAULTS, type AgentOptions, type CompiledAgentOptions } from "./config.js";
export { AgentError, CgroupError, ConfigError, SpawnError, SpoolError, StreamClosedError } from "./errors.js";
export { KILL_METHOD_CHOICES, type KillMethod, type KillMethodChoice } from "./tree.js";
export type { Executor, JobEvents, JobRequest, JobResult, RunningJob } from "./executor.js";

export interface Agent {
  readonly name: string;
  readonly options: CompiledAgentOptions;
  /** The id from the controller's last Welcome (undefined until then). */
  readonly agentId: string | undefined;
  /** Resolves once the agent has left, after drain() or stop() or a controller Drain. */
  readonly closed: Promise<void>;
  /** Runs held now: executing, or finished and not yet fully acknowledged. */
  runs(): ActiveRun[];
  /**
   * Take no new work, let running jobs finish within `deadlineMs` (default
   * --drain-timeout; 0 = no limit), then cancel them, flush logs, GoingAway.
   * Resolves with `closed`. Calling it again returns the same shutdown.
   */
  drain(reason?: string, deadlineMs?: number): Promise<void>;
  /** Like drain(), but cancels running jobs at once (or hurries a drain in progress). */
  stop(reason?: string): Promise<void>;
}

export async function startAgent(options: AgentOptions | CompiledAgentOptions): Promise<Agent> {
  const opts = compileAgentOptions(options);
  const rt = new AgentRuntime(opts);
  let markClosed!: () => void;
  const closed = new Promise<void>((resolve) => (markClosed = resolve));
  let hurry!: () => void;
  const hurried = new Promise<void>((resolve) => (hurry = resolve));
  let leaving: Promise<void> | undefined;
  const leave = (reason: string, deadlineMs: number): Promise<void> =>
    (leaving ??= shutdown(rt, reason, deadlineMs, hurried)
      .catch((err: unknown) => rt.log.error({ err }, "shutdown failed"))
      .finally(markClosed));
  rt.onDrain = (reason, deadlineMs) => void leave(reason, deadlineMs);
  await rt.start();
  return {
    name: opts.name,
    options: opts,
    get agentId() {
      return rt.agentId;
    },
    closed,
    runs: () => rt.runs(),
    drain: (reason = "drain requested", deadlineMs = opts.drainTimeoutMs) => leave(reason, deadlineMs),
    stop: (reason = "stop requested") => {
      hurry();
      return leave(reason, 0);
    },
  };
}
