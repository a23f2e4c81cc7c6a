import { describe, expect, it } from "vitest";
import { compileControllerOptions, ConfigError, DEFAULT_SCHEDULE_CATCH_UP_MS, SCHEDULE_ON_TIME_MS } from "../../../controller/config.js";

const base = { dataDir: "/tmp/hodei-config-test" };

describe("--schedule-catch-up", () => {
  it("defaults to an hour", () => {
    expect(compileControllerOptions(base).scheduleCatchUpMs).toBe(DEFAULT_SCHEDULE_CATCH_UP_MS);
    expect(DEFAULT_SCHEDULE_CATCH_UP_MS).toBe(60 * 60_000);
  });

  it("0 (never catch up) still lets a tick the loop wakes for a little late fire", () => {
    expect(compileControllerOptions({ ...base, scheduleCatchUpMs: 0 }).scheduleCatchUpMs).toBe(SCHEDULE_ON_TIME_MS);
  });

  it("keeps a given window, up to 7 days", () => {
    expect(compileControllerOptions({ ...base, scheduleCatchUpMs: 6 * 60 * 60_000 }).scheduleCatchUpMs).toBe(6 * 60 * 60_000);
    expect(compileControllerOptions({ ...base, scheduleCatchUpMs: 7 * 24 * 60 * 60_000 }).scheduleCatchUpMs).toBe(7 * 24 * 60 * 60_000);
    expect(() => compileControllerOptions({ ...base, scheduleCatchUpMs: 7 * 24 * 60 * 60_000 + 1 })).toThrow(ConfigError);
    expect(() => compileControllerOptions({ ...base, scheduleCatchUpMs: -1 })).toThrow("schedule catch-up must be 0..7d");
  });
});
