import { describe, expect, it } from "vitest";
import { AGENT_RECONNECT_MAX_MS } from "../../../controller/agents/liveness.js";
import { DEFAULTS } from "../../../agent/config.js";

describe("lost-agent sweep after a controller start", () => {
  it("waits at least as long as an agent's longest reconnect backoff", () => {
    // Otherwise agents still backing off after a controller restart are declared lost (seen in test/chaos/controller-kill).
    expect(AGENT_RECONNECT_MAX_MS).toBeGreaterThanOrEqual(DEFAULTS.backoff.maxMs);
  });
});
