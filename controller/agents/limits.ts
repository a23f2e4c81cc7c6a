/**
 * Bounds on what an agent may tell the controller. Every string an agent
 * supplies ends up in the database and in every `hodei runs ls` / `agents ls`
 * answer, so none may be unbounded: two 9 MiB finish messages once made
 * `runs ls` fail for everyone with "message larger than max".
 *
 * Identity (name, labels) is refused when absurd: an agent with 1,000 labels
 * or a 10 KB label is misconfigured or hostile, and silently cutting its
 * labels would place runs wrongly. Free text (finish message, signal,
 * version, kill method, going-away reason) is truncated with a marker
 * instead: the report is still worth keeping.
 *
 * Control characters are kept as they are: the CLI escapes them when it
 * prints (cli/format.ts), and `--json` output escapes them by itself.
 */
import type { AgentMessage, Hello, RunFinished } from "../../proto/gen/hodei/v1/agent.js";
import { DEFAULT_MAX_AGENT_SLOTS } from "../config.js";

export const LIMITS = {
  /** Characters, after trimming; as a DNS name (the default name is the host name). */
  name: 253,
  /** Labels on one agent. */
  labels: 64,
  /** A label key may carry a DNS-name prefix, as Kubernetes' (`example.com/pool`). */
  labelKey: 253,
  labelValue: 253,
  version: 128,
  killMethod: 64,
  signal: 32,
  /** A finish message: enough for a spawn error with its path and errno. */
  message: 4096,
  goingAwayReason: 1024,
} as const;

/** `s` cut to at most `max` characters (plus the marker), never splitting a surrogate pair. */
export function truncate(s: string, max: number): string {
  if (s.length <= max) return s;
  let end = max;
  const last = s.charCodeAt(end - 1);
  if (last >= 0xd800 && last <= 0xdbff) end--; // a high surrogate whose pair would be cut off
  return `${s.slice(0, end)}… [${s.length - end} more characters]`;
}

/** The slots an agent gets: what it declares, at least 1, at most the controller's cap. */
export function clampSlots(declared: number, max = DEFAULT_MAX_AGENT_SLOTS): number {
  return Math.max(1, Math.min(declared || 1, max));
}

const describe = (s: string): string => JSON.stringify(truncate(s, 40));

/** Why a Hello is refused (INVALID_ARGUMENT), or undefined when its identity is acceptable. */
export function helloProblem(h: Hello): string | undefined {
  const name = h.name.trim();
  if (!name || name.length > LIMITS.name) return `agent name must be 1..${LIMITS.name} characters, got ${name.length}`;
  return labelsProblem(h.labels);
}

/** Why an agent's labels (declared, or fixed by a join token) are refused, or undefined. */
export function labelsProblem(labels: Record<string, string>): string | undefined {
  const entries = Object.entries(labels);
  if (entries.length > LIMITS.labels) return `an agent may have at most ${LIMITS.labels} labels, got ${entries.length}`;
  for (const [k, v] of entries) {
    if (!k || k.length > LIMITS.labelKey) return `label key ${describe(k)} must be 1..${LIMITS.labelKey} characters, got ${k.length}`;
    if (v.length > LIMITS.labelValue) return `label ${describe(k)} has a value of ${v.length} characters; at most ${LIMITS.labelValue}`;
  }
  return undefined;
}

export function boundHello(h: Hello): Hello {
  return { ...h, version: truncate(h.version, LIMITS.version), killMethod: truncate(h.killMethod, LIMITS.killMethod) };
}

export function boundRunFinished(m: RunFinished): RunFinished {
  return { ...m, message: truncate(m.message, LIMITS.message), signal: truncate(m.signal, LIMITS.signal) };
}

/**
 * Applies the limits to one message from an agent, where it arrives: a Hello
 * with an absurd identity comes back as `{ invalid }`, anything else with its
 * free text truncated.
 */
export function boundAgentMessage(m: AgentMessage): { msg: AgentMessage } | { invalid: string } {
  switch (m.msg?.$case) {
    case "hello": {
      const problem = helloProblem(m.msg.value);
      return problem ? { invalid: problem } : { msg: { msg: { $case: "hello", value: boundHello(m.msg.value) } } };
    }
    case "runFinished":
      return { msg: { msg: { $case: "runFinished", value: boundRunFinished(m.msg.value) } } };
    case "goingAway":
      return { msg: { msg: { $case: "goingAway", value: { reason: truncate(m.msg.value.reason, LIMITS.goingAwayReason) } } } };
    default:
      return { msg: m };
  }
}
