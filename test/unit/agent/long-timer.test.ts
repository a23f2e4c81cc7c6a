import { afterEach, describe, expect, it, vi } from "vitest";
import { MAX_TIMER_MS, setLongTimeout } from "../../../agent/long-timer.js";

const DAY = 86_400_000;

describe("setLongTimeout", () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it("does not fire early for 25 days, where a plain setTimeout fires at once (real timers)", async () => {
    const fired: string[] = [];
    const plain = setTimeout(() => fired.push("setTimeout"), 25 * DAY); // the bug: Node clamps it to 1 ms
    const long = setLongTimeout(() => fired.push("setLongTimeout"), 25 * DAY);
    await new Promise((r) => setTimeout(r, 100));
    clearTimeout(plain);
    long.clear();
    expect(fired).toEqual(["setTimeout"]);
  });

  it("chains timers and fires exactly once, on time (fake timers)", () => {
    vi.useFakeTimers();
    const calls: number[] = [];
    const start = Date.now();
    setLongTimeout(() => calls.push(Date.now() - start), 60 * DAY);
    vi.advanceTimersByTime(MAX_TIMER_MS); // first link ends
    expect(calls).toEqual([]);
    vi.advanceTimersByTime(MAX_TIMER_MS); // second ends
    expect(calls).toEqual([]);
    vi.advanceTimersByTime(60 * DAY - 2 * MAX_TIMER_MS - 1);
    expect(calls).toEqual([]);
    vi.advanceTimersByTime(1);
    expect(calls).toEqual([60 * DAY]);
    vi.advanceTimersByTime(365 * DAY);
    expect(calls).toHaveLength(1);
  });

  it("fires short delays as setTimeout does, 0 and negative at once (fake timers)", () => {
    vi.useFakeTimers();
    const calls: string[] = [];
    setLongTimeout(() => calls.push("250"), 250);
    setLongTimeout(() => calls.push("0"), 0);
    setLongTimeout(() => calls.push("-5"), -5);
    setLongTimeout(() => calls.push("never"), Infinity);
    vi.advanceTimersByTime(0);
    expect(calls).toEqual(["0", "-5"]);
    vi.advanceTimersByTime(250);
    expect(calls).toEqual(["0", "-5", "250"]);
    vi.advanceTimersByTime(400 * DAY);
    expect(calls).toEqual(["0", "-5", "250"]);
  });

  it("clear() stops it before the first link ends and between links (fake timers)", () => {
    vi.useFakeTimers();
    const calls: string[] = [];
    const early = setLongTimeout(() => calls.push("early"), 30 * DAY);
    const late = setLongTimeout(() => calls.push("late"), 30 * DAY);
    vi.advanceTimersByTime(DAY);
    early.clear();
    vi.advanceTimersByTime(MAX_TIMER_MS); // late is now on its second link
    late.clear();
    vi.advanceTimersByTime(60 * DAY);
    expect(calls).toEqual([]);
    expect(vi.getTimerCount()).toBe(0);
  });
});
