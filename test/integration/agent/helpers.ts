import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pino } from "pino";
import { startAgent, type Agent, type AgentOptions } from "../../../agent/index.js";
import type { FakeController } from "./fake-controller.js";

/** Silent unless HODEI_TEST_LOG=debug (or another pino level) is set. */
export const testLogger = () => pino({ level: process.env.HODEI_TEST_LOG ?? "silent" }, pino.destination(2));

export interface TestAgent {
  agent: Agent;
  workDir: string;
  /** Stop the agent (cancelling jobs) and remove its work dir. */
  dispose(): Promise<void>;
}

/** Starts an agent on a temp work dir and, unless told not to, waits for its Hello. */
export async function startTestAgent(fake: FakeController, opts: Partial<AgentOptions> = {}, waitForHello = true): Promise<TestAgent> {
  const hellos = fake.messages("hello").length;
  const workDir = mkdtempSync(join(tmpdir(), "hodei-agent-test-"));
  const agent = await startAgent({
    controller: fake.address,
    name: "test-agent",
    labels: { os: "linux" },
    slots: 4,
    workDir,
    flushTimeoutMs: 2_000,
    logger: testLogger(),
    ...opts,
  });
  if (waitForHello) await fake.waitFor(() => (fake.messages("hello").length > hellos ? true : undefined), "the agent's Hello");
  return {
    agent,
    workDir,
    dispose: async () => {
      await agent.stop("test over");
      rmSync(workDir, { recursive: true, force: true });
    },
  };
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** True while `pid` runs. A zombie counts as dead: it waits only for pid 1 (slow to reap here) to collect it. */
export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    // /proc/<pid>/stat: "pid (comm) S ..."; comm may contain spaces, so read after the last ')'.
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z";
  } catch {
    return false;
  }
}

/** Polls `condition` (agent-side state the fake controller cannot see) until it holds. */
export async function eventually(condition: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}
