import { describe, expect, it } from "vitest";
import { parseCron } from "../../../schemas/cron.js";
import { SpecValueError } from "../../../schemas/errors.js";

const range = (a: number, b: number, step = 1): number[] => Array.from({ length: Math.floor((b - a) / step) + 1 }, (_, i) => a + i * step);

describe("parseCron", () => {
  it("expands every field", () => {
    const c = parseCron("*/15 9-17 1,15 JAN-MAR/2 mon-fri");
    expect(c.minute).toEqual([0, 15, 30, 45]);
    expect(c.hour).toEqual(range(9, 17));
    expect(c.dayOfMonth).toEqual([1, 15]);
    expect(c.month).toEqual([1, 3]);
    expect(c.dayOfWeek).toEqual([1, 2, 3, 4, 5]);
    expect(c.dayOfMonthStar).toBe(false);
    expect(c.dayOfWeekStar).toBe(false);
  });

  it("treats * as the full range and 7 as Sunday", () => {
    const c = parseCron("* * * * 7");
    expect(c.minute).toEqual(range(0, 59));
    expect(c.dayOfMonth).toEqual(range(1, 31));
    expect(c.dayOfWeek).toEqual([0]);
    expect(c.dayOfMonthStar).toBe(true);
  });

  it("reads a/step as a..max/step", () => {
    expect(parseCron("5/20 * * * *").minute).toEqual([5, 25, 45]);
  });

  it("tolerates extra spaces between fields", () => {
    expect(parseCron("  0   3 * * *  ").hour).toEqual([3]);
  });

  it.each([
    ["* * * *", "expected 5 fields (minute hour day-of-month month day-of-week), got 4"],
    ["* * * * * *", "got 6"],
    ["", "got 0"],
    ["60 * * * *", "minute 60 is out of range 0-59"],
    ["* 24 * * *", "hour 24 is out of range 0-23"],
    ["* * 0 * *", "day of month 0 is out of range 1-31"],
    ["* * * 13 *", "month 13 is out of range 1-12"],
    ["* * * * 8", "day of week 8 is out of range 0-7"],
    ["* * * JANUARY *", 'month "JANUARY" is not a number or a name'],
    ["x * * * *", 'minute "x" is not a number'],
    ["*/0 * * * *", "step in minute field must be at least 1"],
    ["30-10 * * * *", "minute range 30-10 goes backwards"],
    ["1,,2 * * * *", 'cannot read minute field "1,,2"'],
    ["@daily", 'macros are not supported; write "0 0 * * *" instead'],
  ])("rejects %j", (expr, message) => {
    expect(() => parseCron(expr)).toThrow(SpecValueError);
    expect(() => parseCron(expr)).toThrow(message);
  });
});
