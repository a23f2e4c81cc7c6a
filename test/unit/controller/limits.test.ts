/** The submit rate per caller (controller/api/limits.ts), on a fake clock. */
import { describe, expect, it } from "vitest";
import { status } from "@grpc/grpc-js";
import { SubmitLimiter } from "../../../controller/api/limits.js";
import { ApiError } from "../../../controller/api/errors.js";

function refusal(fn: () => void): ApiError | undefined {
  try {
    fn();
    return undefined;
  } catch (err) {
    return err as ApiError;
  }
}

describe("SubmitLimiter.take", () => {
  it("lets a burst of twice the rate through, then refuses, retryably, saying when and which flag", () => {
    let t = 1_000_000;
    const l = new SubmitLimiter({ ratePerSec: 5, maxQueuedPerProject: 0 }, () => t);
    for (let i = 0; i < 10; i++) expect(refusal(() => l.take("ci"))).toBeUndefined();
    const err = refusal(() => l.take("ci"));
    expect(err).toBeInstanceOf(ApiError);
    expect([err!.code, err!.retryable]).toEqual([status.RESOURCE_EXHAUSTED, true]);
    expect(err!.message).toBe("rate limited: ci may start 5 runs a second (bursts of 10); retry in 200 ms. The controller's --submit-rate sets the limit");
    // Another caller has its own bucket.
    expect(refusal(() => l.take("other"))).toBeUndefined();
    // Refilled at the rate: 200 ms buys one more, not two.
    t += 200;
    expect(refusal(() => l.take("ci"))).toBeUndefined();
    expect(refusal(() => l.take("ci"))).toBeInstanceOf(ApiError);
    // A long pause refills to the burst, not beyond.
    t += 3_600_000;
    for (let i = 0; i < 10; i++) expect(refusal(() => l.take("ci"))).toBeUndefined();
    expect(refusal(() => l.take("ci"))).toBeInstanceOf(ApiError);
  });

  it("does nothing at rate 0", () => {
    const l = new SubmitLimiter({ ratePerSec: 0, maxQueuedPerProject: 0 }, () => 0);
    for (let i = 0; i < 1000; i++) l.take("ci");
  });
});
