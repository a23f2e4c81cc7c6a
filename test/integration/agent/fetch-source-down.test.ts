/**
 * A source-bundle fetch while the agent's stream is down (the controller or
 * its database restarting): the Connection has closed its gRPC client, and a
 * call on a closed client throws "Channel has been shut down" at once. That
 * must count as "not connected" (retried until the deadline, on the next
 * client), not fail the run (the postgres-restart chaos test found it). Real
 * gRPC client, dialing a loopback port nothing listens on.
 */
import { createServer } from "node:net";
import { describe, expect, it } from "vitest";
import { pino } from "pino";
import { Connection } from "../../../agent/connection.js";
import { AgentCredential } from "../../../agent/credential.js";
import { StreamClosedError } from "../../../agent/errors.js";
import { eventually, tempDir } from "../../helpers/procs.js";
import { join } from "node:path";

/** A loopback port that was free a moment ago (nothing listens there now). */
async function deadPort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", () => r()));
  const port = (s.address() as { port: number }).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

describe("fetchSource while the stream is down", () => {
  it("is retried as not connected, never failed by the closed client's error", async () => {
    const log = pino({ level: "silent" });
    let downs = 0;
    const conn = new Connection(
      { address: `127.0.0.1:${await deadPort()}`, backoff: { initialMs: 50, factor: 1, maxMs: 50 }, helloTimeoutMs: 1_000, logger: log, credential: new AgentCredential(join(tempDir(), "c"), "", log) },
      {
        hello: () => ({ name: "a", version: "t", labels: {}, slots: 1, activeRuns: [], killMethod: "process-group", agentId: "", draining: false }),
        onWelcome: () => {},
        onMessage: () => {},
        onWritable: () => {},
        onDown: () => void downs++,
      },
    );
    conn.start();
    // The first dial has failed: its client is closed, and the next dial waits for its backoff.
    await eventually(() => (downs > 0 ? true : undefined), "the first dial to fail");
    const err = await conn.fetchSource("a".repeat(64), 500).then(() => undefined, (e: unknown) => e);
    await conn.close();
    expect(err).toBeInstanceOf(StreamClosedError);
    expect(String((err as Error).message)).not.toMatch(/^Channel has been shut down/);
  });
});
