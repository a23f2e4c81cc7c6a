import { describe, expect, it } from "vitest";
import { decideRetry, retryCause } from "../../../controller/runs/retry.js";

describe("retryCause", () => {
  it("maps outcomes to the causes a policy names", () => {
    expect(retryCause("exited", 0)).toBeUndefined();
    expect(retryCause("exited", 2)).toBe("failure");
    expect(retryCause("signaled", null)).toBe("failure");
    expect(retryCause("spawn_failed", null)).toBe("failure");
    expect(retryCause("timeout", null)).toBe("timeout");
    expect(retryCause("infrastructure", null)).toBe("infrastructure");
    expect(retryCause("cancelled", null)).toBeUndefined();
  });
});

describe("decideRetry", () => {
  const policy = { limit: 3, backoff: "10s", maxBackoff: "25s" };

  it("retries up to the limit, then stops", () => {
    expect(decideRetry(policy, 0, "exited", 1, 0).retry).toBe(true);
    expect(decideRetry(policy, 2, "exited", 1, 0).retry).toBe(true);
    expect(decideRetry(policy, 3, "exited", 1, 0)).toEqual({ retry: false, delayMs: 0 });
  });

  it("never retries without a policy, a success or a cancel", () => {
    expect(decideRetry(undefined, 0, "exited", 1, 0).retry).toBe(false);
    expect(decideRetry(policy, 0, "exited", 0, 0).retry).toBe(false);
    expect(decideRetry(policy, 0, "cancelled", null, 0).retry).toBe(false);
  });

  it("honours `on`", () => {
    const infraOnly = { limit: 2, on: ["infrastructure" as const] };
    expect(decideRetry(infraOnly, 0, "exited", 1, 0).retry).toBe(false);
    expect(decideRetry(infraOnly, 0, "timeout", null, 0).retry).toBe(false);
    expect(decideRetry(infraOnly, 0, "infrastructure", null, 0).retry).toBe(true);
  });

  it("doubles the backoff per retry, caps it, and jitters the upper half", () => {
    // random 0 → half the exponential delay; random 1 → all of it.
    expect(decideRetry(policy, 0, "exited", 1, 0).delayMs).toBe(5_000);
    expect(decideRetry(policy, 0, "exited", 1, 1).delayMs).toBe(10_000);
    expect(decideRetry(policy, 1, "exited", 1, 1).delayMs).toBe(20_000);
    expect(decideRetry(policy, 2, "exited", 1, 1).delayMs).toBe(25_000);
    expect(decideRetry(policy, 2, "exited", 1, 0.5).delayMs).toBe(18_750);
  });

  it("defaults to a 10 s backoff", () => {
    expect(decideRetry({ limit: 1 }, 0, "infrastructure", null, 1).delayMs).toBe(10_000);
  });
});
