import { describe, expect, it } from "vitest";
import { percentiles } from "../bench/stats.js";

describe("bench percentiles", () => {
  it("uses nearest rank", () => {
    const xs = Array.from({ length: 100 }, (_, i) => 100 - i); // 100..1, unsorted
    expect(percentiles(xs)).toEqual({ n: 100, p50: 50, p95: 95, p99: 99, max: 100 });
    expect(percentiles([7])).toEqual({ n: 1, p50: 7, p95: 7, p99: 7, max: 7 });
    expect(percentiles([]).n).toBe(0);
  });
});
