import { describe, expect, it } from "vitest";
import { MAX_DURATION_MS, parseCpu, parseDuration, parseSize, SpecValueError } from "../../../schemas/durations.js";

describe("parseDuration", () => {
  it.each([
    ["90s", 90_000],
    ["10m", 600_000],
    ["1h30m", 5_400_000],
    ["250ms", 250],
    ["2d", 172_800_000],
    ["1d2h3m4s5ms", 93_784_005],
    ["1.5h", 5_400_000],
    ["0.5s", 500],
    ["0s", 0],
    ["0", 0],
    ["365d", MAX_DURATION_MS],
    ["1m0s", 60_000],
  ])("%s is %d ms", (s, ms) => expect(parseDuration(s)).toBe(ms));

  it.each([
    ["", "expected a number followed by ms, s, m, h or d"],
    ["10x", 'invalid duration "10x": expected a number followed by ms, s, m, h or d, e.g. "90s" or "1h30m"'],
    ["-5s", "cannot be negative"],
    ["90", "missing unit"],
    ["1.5", "missing unit"],
    ["s", "expected a number"],
    ["10S", "expected a number"],
    ["1h30", "expected a number"],
    ["1h 30m", "expected a number"],
    [" 1h", "expected a number"],
    ["1e3s", "expected a number"],
    ["30m1h", "largest to smallest"],
    ["1m1m", "largest to smallest"],
    ["366d", "too large"],
    ["99999999999999999999999999h", "too large"],
    ["garbage", "expected a number"],
  ])("rejects %j", (s, message) => {
    expect(() => parseDuration(s)).toThrow(SpecValueError);
    expect(() => parseDuration(s)).toThrow(message);
  });

  it("names the value in the message", () => {
    expect(() => parseDuration("10x")).toThrow('invalid duration "10x"');
  });

  it("rejects non-strings without crashing", () => {
    expect(() => parseDuration(10 as unknown as string)).toThrow(SpecValueError);
  });
});

describe("parseSize", () => {
  it.each([
    ["512Mi", 512 * 2 ** 20],
    ["1Gi", 2 ** 30],
    ["100M", 100e6],
    ["1.5G", 1.5e9],
    ["1024", 1024],
    ["64k", 64_000],
    ["64Ki", 65_536],
    ["2Ti", 2 * 2 ** 40],
    ["3T", 3e12],
    ["1Pi", 2 ** 50],
    ["0", 0],
    ["1.1Ki", 1127], // fractions round up to a whole byte, as Kubernetes does
  ])("%s is %d bytes", (s, bytes) => expect(parseSize(s)).toBe(bytes));

  it.each([
    ["", "expected a number of bytes"],
    ["-1Gi", "cannot be negative"],
    ["512MB", 'did you mean "512M" for powers of 1000 or "512Mi" for powers of 1024?'],
    ["64K", 'did you mean "64k" for powers of 1000 or "64Ki" for powers of 1024?'],
    ["1gi", 'did you mean "1G" for powers of 1000 or "1Gi" for powers of 1024?'],
    ["10Xi", "expected a number of bytes"],
    ["1.5", "whole number of bytes"],
    ["Mi", "expected a number of bytes"],
    ["5 Mi", "expected a number of bytes"],
    ["100000Pi", "too large"],
  ])("rejects %j", (s, message) => {
    expect(() => parseSize(s)).toThrow(SpecValueError);
    expect(() => parseSize(s)).toThrow(message);
  });
});

describe("parseCpu", () => {
  it.each([
    [1, 1],
    [0.5, 0.5],
    ["2", 2],
    ["0.25", 0.25],
    ["500m", 0.5],
    ["1500m", 1.5],
  ])("%j is %d cores", (v, cores) => expect(parseCpu(v)).toBe(cores));

  it.each([
    [0, "greater than zero"],
    [-1, "greater than zero"],
    ["0m", "greater than zero"],
    ["abc", 'millicores such as "500m"'],
    ["1.5 cores", "expected a number of cores"],
    ["500M", "expected a number of cores"],
  ])("rejects %j", (v, message) => expect(() => parseCpu(v)).toThrow(message));
});
