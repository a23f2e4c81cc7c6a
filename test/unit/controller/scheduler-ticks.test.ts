/**
 * Fire times (croner through parseCron) and the catch-up rule, table-driven.
 * DST dates: Europe/Madrid springs forward 2026-03-29 02:00 CET → 03:00 CEST
 * and falls back 2026-10-25 03:00 CEST → 02:00 CET; America/New_York springs
 * forward 2026-03-08 02:00 EST → 03:00 EDT and falls back 2026-11-01 02:00
 * EDT → 01:00 EST. Every expectation is an instant (UTC) with its wall time.
 */
import { describe, expect, it } from "vitest";
import { DEFAULT_CATCH_UP_WINDOW_MS, DEFAULT_MAX_TICKS, dueTicks, nextFire, ticksBetween } from "../../../controller/scheduler/ticks.js";

const iso = (d: Date) => d.toISOString();
const at = (s: string) => new Date(s);
const MIN = 60_000;
const HOUR = 60 * MIN;

describe("ticksBetween across daylight-saving changes", () => {
  it.each([
    {
      what: "a 02:30 daily job in Madrid on the spring-forward day fires at 03:00 CEST, the first time after the gap",
      expr: "30 2 * * *", tz: "Europe/Madrid", from: "2026-03-28T00:00:00Z", to: "2026-03-31T00:00:00Z",
      want: ["2026-03-28T01:30:00.000Z" /* 02:30 CET */, "2026-03-29T01:00:00.000Z" /* 03:00 CEST */, "2026-03-30T00:30:00.000Z" /* 02:30 CEST */],
    },
    {
      what: "a 02:30 daily job in New York on the spring-forward day fires at 03:00 EDT",
      expr: "30 2 * * *", tz: "America/New_York", from: "2026-03-07T12:00:00Z", to: "2026-03-09T12:00:00Z",
      want: ["2026-03-08T07:00:00.000Z" /* 03:00 EDT */, "2026-03-09T06:30:00.000Z" /* 02:30 EDT */],
    },
    {
      what: "a 01:30 daily job in New York fires once on the fall-back day, at the first 01:30 (EDT)",
      expr: "30 1 * * *", tz: "America/New_York", from: "2026-10-31T12:00:00Z", to: "2026-11-02T12:00:00Z",
      want: ["2026-11-01T05:30:00.000Z" /* 01:30 EDT; not 06:30Z, 01:30 EST */, "2026-11-02T06:30:00.000Z"],
    },
    {
      what: "a 02:30 daily job in Madrid fires once on the fall-back day, at the first 02:30 (CEST)",
      expr: "30 2 * * *", tz: "Europe/Madrid", from: "2026-10-24T12:00:00Z", to: "2026-10-26T12:00:00Z",
      want: ["2026-10-25T00:30:00.000Z" /* 02:30 CEST; not 01:30Z, 02:30 CET */, "2026-10-26T01:30:00.000Z"],
    },
    {
      what: "a list of fixed times (no * or step) is fixed-time too: 02:30 moves to 03:00 on the spring-forward day",
      expr: "30 2,14 * * *", tz: "Europe/Madrid", from: "2026-03-29T00:00:00Z", to: "2026-03-29T23:00:00Z",
      want: ["2026-03-29T01:00:00.000Z" /* 03:00 CEST */, "2026-03-29T12:30:00.000Z" /* 14:30 CEST */],
    },
    {
      what: "a range of hours is fixed-time: 01:00 once on the fall-back day, then 02:00 and 03:00 EST",
      expr: "0 1-3 * * *", tz: "America/New_York", from: "2026-11-01T04:00:00Z", to: "2026-11-01T09:00:00Z",
      want: ["2026-11-01T05:00:00.000Z", "2026-11-01T07:00:00.000Z", "2026-11-01T08:00:00.000Z"],
    },
    {
      what: "an interval job fires through both passes of the repeated hour (real time, every 30 minutes)",
      expr: "*/30 * * * *", tz: "America/New_York", from: "2026-11-01T04:40:00Z", to: "2026-11-01T07:00:00Z",
      want: ["2026-11-01T05:00:00.000Z", "2026-11-01T05:30:00.000Z", "2026-11-01T06:00:00.000Z", "2026-11-01T06:30:00.000Z", "2026-11-01T07:00:00.000Z"],
    },
    {
      what: "an interval job skips the missing hour of the spring-forward day (01:30 EST, then 03:00 EDT)",
      expr: "*/30 * * * *", tz: "America/New_York", from: "2026-03-08T06:10:00Z", to: "2026-03-08T07:30:00Z",
      want: ["2026-03-08T06:30:00.000Z", "2026-03-08T07:00:00.000Z", "2026-03-08T07:30:00.000Z"],
    },
    {
      what: "UTC has no DST: 02:30 every day",
      expr: "30 2 * * *", tz: undefined, from: "2026-03-28T00:00:00Z", to: "2026-03-30T00:00:00Z",
      want: ["2026-03-28T02:30:00.000Z", "2026-03-29T02:30:00.000Z"],
    },
  ])("$what", ({ expr, tz, from, to, want }) => {
    expect(ticksBetween(expr, tz, at(from), at(to)).map(iso)).toEqual(want);
  });

  it("is bounded: at most `max` ticks, the first ones", () => {
    const ticks = ticksBetween("* * * * *", "UTC", at("2026-01-01T00:00:00Z"), at("2027-01-01T00:00:00Z"), 3);
    expect(ticks.map(iso)).toEqual(["2026-01-01T00:01:00.000Z", "2026-01-01T00:02:00.000Z", "2026-01-01T00:03:00.000Z"]);
    expect(DEFAULT_MAX_TICKS).toBe(1000);
  });

  it("excludes `from` and includes `to`", () => {
    expect(ticksBetween("0 * * * *", "UTC", at("2026-01-01T01:00:00Z"), at("2026-01-01T03:00:00Z")).map(iso)).toEqual([
      "2026-01-01T02:00:00.000Z",
      "2026-01-01T03:00:00.000Z",
    ]);
  });
});

describe("nextFire", () => {
  it("is strictly after, in the zone given", () => {
    expect(iso(nextFire("0 9 * * *", "Europe/Madrid", at("2026-01-05T08:00:00Z"))!)).toBe("2026-01-06T08:00:00.000Z");
    expect(iso(nextFire("0 9 * * *", "Europe/Madrid", at("2026-01-05T07:59:59.999Z"))!)).toBe("2026-01-05T08:00:00.000Z");
  });

  it("throws the validator's message for an invalid schedule or zone", () => {
    expect(() => nextFire("@daily", "UTC", new Date(0))).toThrow('macros are not supported; write "0 0 * * *" instead');
    expect(() => nextFire("0 0 * * *", "Europe/Madird", new Date(0))).toThrow('(did you mean "Europe/Madrid"?)');
  });
});

describe("dueTicks: the catch-up rule", () => {
  it.each([
    {
      what: "nothing is due before the next tick",
      expr: "* * * * *", last: "2026-01-01T10:00:00Z", now: "2026-01-01T10:00:30Z", want: [],
    },
    {
      what: "a tick is due as soon as its time has come",
      expr: "* * * * *", last: "2026-01-01T10:00:00Z", now: "2026-01-01T10:01:00Z", want: ["2026-01-01T10:01:00.000Z"],
    },
    {
      what: "a tick already claimed is not due again",
      expr: "* * * * *", last: "2026-01-01T10:01:00Z", now: "2026-01-01T10:01:20Z", want: [],
    },
    {
      what: "after downtime only the last missed tick fires, never the ones before it",
      expr: "*/5 * * * *", last: "2026-01-01T09:00:00Z", now: "2026-01-01T12:22:00Z", want: ["2026-01-01T12:20:00.000Z"],
    },
    {
      what: "a missed tick older than the window does not fire",
      expr: "0 9 * * *", last: "2026-01-01T09:00:00Z", now: "2026-01-02T10:00:00Z", want: [],
    },
    {
      what: "a missed tick just younger than the window fires",
      expr: "0 9 * * *", last: "2026-01-01T09:00:00Z", now: "2026-01-02T09:59:59.999Z", want: ["2026-01-02T09:00:00.000Z"],
    },
    {
      what: "with no claim yet, the last tick within the window is due",
      expr: "0 * * * *", last: null, now: "2026-01-01T10:59:00Z", want: ["2026-01-01T10:00:00.000Z"],
    },
    {
      what: "a claim newer than now (another controller's clock ahead) makes nothing due",
      expr: "* * * * *", last: "2026-01-01T10:05:00Z", now: "2026-01-01T10:03:00Z", want: [],
    },
    {
      what: "the repeated hour of a fall-back day: the second 01:00 of an interval job is its own tick",
      expr: "0 * * * *", last: "2026-11-01T05:00:00Z" /* 01:00 EDT */, now: "2026-11-01T06:00:10Z", want: ["2026-11-01T06:00:00.000Z" /* 01:00 EST */],
      tz: "America/New_York",
    },
    {
      what: "a fixed-time job is not due again in the repeated hour",
      expr: "30 1 * * *", last: "2026-11-01T05:30:00Z" /* 01:30 EDT */, now: "2026-11-01T06:40:00Z" /* 01:40 EST */, want: [],
      tz: "America/New_York",
    },
  ])("$what", ({ expr, last, now, want, tz }) => {
    expect(dueTicks(expr, tz ?? "UTC", last ? at(last) : null, at(now)).map(iso)).toEqual(want);
  });

  it("the window is configurable, and 1 hour by default", () => {
    expect(DEFAULT_CATCH_UP_WINDOW_MS).toBe(HOUR);
    const last = at("2026-01-01T09:00:00Z");
    const now = at("2026-01-02T13:00:00Z"); // 4 h after the missed 09:00 tick
    expect(dueTicks("0 9 * * *", "UTC", last, now)).toEqual([]);
    expect(dueTicks("0 9 * * *", "UTC", last, now, 4 * HOUR).map(iso)).toEqual([]); // exactly the window: too old
    expect(dueTicks("0 9 * * *", "UTC", last, now, 4 * HOUR + 1).map(iso)).toEqual(["2026-01-02T09:00:00.000Z"]);
    expect(dueTicks("* * * * *", "UTC", null, at("2026-01-01T10:00:30Z"), 10 * MIN).map(iso)).toEqual(["2026-01-01T10:00:00.000Z"]);
  });

  it("finds the last tick in a wide window without walking every tick in it", () => {
    // A week of minutes is 10,080 ticks; only the last counts.
    const due = dueTicks("* * * * *", "UTC", null, at("2026-01-08T00:00:30Z"), 7 * 24 * HOUR);
    expect(due.map(iso)).toEqual(["2026-01-08T00:00:00.000Z"]);
    // A yearly tick 300 days ago, inside a 365-day window.
    expect(dueTicks("0 0 1 1 *", "UTC", null, at("2026-10-28T00:00:00Z"), 365 * 24 * HOUR).map(iso)).toEqual(["2026-01-01T00:00:00.000Z"]);
  });
});
