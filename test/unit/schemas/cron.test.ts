import { Cron } from "croner";
import { describe, expect, it } from "vitest";
import { CRON_OPTIONS, checkTimezone, parseCron } from "../../../schemas/cron.js";
import { SpecValueError } from "../../../schemas/errors.js";

const at = (iso: string) => new Date(iso);
/** The next `n` fire times after `from`, as ISO strings. */
function fires(expr: string, from: string, n: number, tz = "UTC"): string[] {
  const s = parseCron(expr, tz);
  const out: string[] = [];
  let d: Date | null = at(from);
  while (out.length < n && (d = s.next(d))) out.push(d.toISOString());
  return out;
}

describe("parseCron", () => {
  it("reads every field: lists, ranges, names, steps", () => {
    expect(fires("*/15 9-17 1,15 JAN-MAR/2 mon-fri", "2026-01-01T16:50:00Z", 3)).toEqual([
      // Thursday 1 January (the 1st, and a weekday: crontab ORs the day fields)
      "2026-01-01T17:00:00.000Z",
      "2026-01-01T17:15:00.000Z",
      "2026-01-01T17:30:00.000Z",
    ]);
    // February is not in JAN-MAR/2
    expect(fires("0 9 * JAN-MAR/2 *", "2026-01-31T10:00:00Z", 1)).toEqual(["2026-03-01T09:00:00.000Z"]);
  });

  it("treats 7 as Sunday", () => {
    expect(fires("0 0 * * 7", "2026-01-01T00:00:00Z", 1)).toEqual(["2026-01-04T00:00:00.000Z"]);
  });

  it("ORs day of month and day of week when both are restricted, as crontab", () => {
    // the 13th, or any Friday
    expect(fires("0 0 13 * fri", "2026-02-01T00:00:00Z", 3)).toEqual([
      "2026-02-06T00:00:00.000Z",
      "2026-02-13T00:00:00.000Z",
      "2026-02-20T00:00:00.000Z",
    ]);
  });

  it("reads a/step as a-max/step", () => {
    expect(fires("5/20 * * * *", "2026-01-01T00:00:00Z", 4)).toEqual([
      "2026-01-01T00:05:00.000Z",
      "2026-01-01T00:25:00.000Z",
      "2026-01-01T00:45:00.000Z",
      "2026-01-01T01:05:00.000Z",
    ]);
  });

  it("tolerates extra spaces and tabs between fields", () => {
    expect(fires("  0   3 *\t* *  ", "2026-01-01T00:00:00Z", 1)).toEqual(["2026-01-01T03:00:00.000Z"]);
  });

  it("is strictly after: a fire time equal to `after` is not returned again", () => {
    expect(fires("0 * * * *", "2026-01-01T01:00:00Z", 1)).toEqual(["2026-01-01T02:00:00.000Z"]);
  });

  it("evaluates in the time zone given (UTC by default)", () => {
    expect(fires("0 9 * * *", "2026-01-01T00:00:00Z", 1)).toEqual(["2026-01-01T09:00:00.000Z"]);
    expect(fires("0 9 * * *", "2026-01-01T00:00:00Z", 1, "Europe/Madrid")).toEqual(["2026-01-01T08:00:00.000Z"]); // CET
    expect(fires("0 9 * * *", "2026-07-01T00:00:00Z", 1, "Europe/Madrid")).toEqual(["2026-07-01T07:00:00.000Z"]); // CEST
  });

  it.each([
    ["* * * *", "expected 5 fields (minute hour day-of-month month day-of-week), got 4"],
    ["* * * * * *", "got 6"], // a seconds field
    ["0 0 0 * * * 2030", "got 7"], // seconds and year
    ["", "got 0"],
    ["60 * * * *", "minute 60 is out of range 0-59"],
    ["* 24 * * *", "hour 24 is out of range 0-23"],
    ["* * 0 * *", "day of month 0 is out of range 1-31"],
    ["* * * 13 *", "month 13 is out of range 1-12"],
    ["* * * * 8", "day of week 8 is out of range 0-7"],
    ["* * * JANUARY *", 'month "JANUARY" is not a number or a name'],
    ["0 0 * 1 jan", 'day of week "jan" is not a number or a name'],
    ["x * * * *", 'minute "x" is not a number'],
    ["*/0 * * * *", "step in minute field must be at least 1"],
    ["30-10 * * * *", "minute range 30-10 goes backwards"],
    ["1,,2 * * * *", 'cannot read minute field "1,,2"'],
    ["/10 * * * *", 'cannot read minute field "/10"'],
    ["@daily", 'macros are not supported; write "0 0 * * *" instead'],
    ["@HOURLY", 'macros are not supported; write "0 * * * *" instead'],
    ["0 0 L * *", 'day of month field "L" uses an extension (L, W, #, + or ?) that 5-field cron does not have'],
    ["0 0 15W * *", 'day of month field "15W" uses an extension'],
    ["0 0 * * 5#2", 'day of week field "5#2" uses an extension'],
    ["0 0 * * 5L", 'day of week field "5L" uses an extension'],
    ["0 0 1 * +MON", 'day of week field "+MON" uses an extension'],
    ["? * * * *", 'minute field "?" uses an extension'],
    ["0 0 30 2 *", "it never fires: no month it allows has that day (e.g. 30 February)"],
    ["0 0 31 4,6,9,11 *", "it never fires"],
    ["1-2-3 * * * *", 'cannot read minute field "1-2-3"'],
  ])("rejects %j", (expr, message) => {
    expect(() => parseCron(expr)).toThrow(SpecValueError);
    expect(() => parseCron(expr)).toThrow(`invalid schedule ${JSON.stringify(expr)}: `);
    expect(() => parseCron(expr)).toThrow(message);
  });

  it("accepts a day that exists only in leap years", () => {
    expect(fires("0 0 29 2 *", "2026-01-01T00:00:00Z", 1)).toEqual(["2028-02-29T00:00:00.000Z"]);
  });

  // The validator and the scheduler agree because both call parseCron; this
  // checks that parseCron only ever narrows croner, never widens it: whatever
  // it accepts, croner with the same options accepts too.
  it.each([
    "*/15 9-17 1,15 JAN-MAR/2 mon-fri",
    "5/20 * * * *",
    "0 0 * * 0-7",
    "0 0 * * sun-sat",
    "*/60 * * * *",
    "0 0 29 2 *",
    "59 23 31 12 6",
  ])("croner accepts what parseCron accepts: %j", (expr) => {
    expect(() => parseCron(expr)).not.toThrow();
    expect(() => new Cron(expr, { ...CRON_OPTIONS, timezone: "UTC" })).not.toThrow();
  });
});

describe("checkTimezone", () => {
  it.each(["UTC", "Europe/Madrid", "America/New_York", "Asia/Kolkata", "Etc/GMT+5"])("accepts %j", (tz) => {
    expect(() => checkTimezone(tz)).not.toThrow();
    expect(() => parseCron("0 0 * * *", tz)).not.toThrow();
  });

  it.each([
    ["Europe/Madird", ' (did you mean "Europe/Madrid"?)'],
    ["Mars/Olympus", ""],
    ["+01:00", ""],
    ["", ""],
  ])("rejects %j", (tz, hint) => {
    const message = `invalid time zone ${JSON.stringify(tz)}: expected an IANA time zone name such as "Europe/Madrid", "America/New_York" or "UTC"${hint}`;
    expect(() => checkTimezone(tz)).toThrow(SpecValueError);
    expect(() => checkTimezone(tz)).toThrow(message);
    expect(() => parseCron("0 0 * * *", tz)).toThrow(message);
  });
});
