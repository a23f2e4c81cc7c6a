import { pino } from "pino";
import { describe, expect, it } from "vitest";
import { compileAgentOptions, DEFAULTS } from "../../../agent/config.js";
import { checkAddress, parseLabels } from "../../../agent/parse.js";
import { Backoff } from "../../../agent/backoff.js";

const logger = pino({ level: "silent" });

describe("agent option parsing", () => {
  // Durations and sizes: the shared grammar table, test/unit/cli/flags.test.ts.

  it("parses and checks labels", () => {
    expect(parseLabels("labels", "os=linux, arch=amd64,hodei.dev/pool=ci,empty=")).toEqual({
      os: "linux",
      arch: "amd64",
      "hodei.dev/pool": "ci",
      empty: "",
    });
    expect(() => parseLabels("labels", "novalue")).toThrow(/not key=value/);
    expect(() => parseLabels("labels", "a b=c")).toThrow(/label key/);
    expect(() => parseLabels("labels", "a=b c")).toThrow(/label value/);
  });

  it("checks the controller address", () => {
    expect(checkAddress("c", "ci.example.com:7070")).toBe("ci.example.com:7070");
    expect(checkAddress("c", "[::1]:7070")).toBe("[::1]:7070");
    for (const bad of ["ci.example.com", ":7070", "host:0", "host:70000", "http://host:1"]) expect(() => checkAddress("c", bad)).toThrow(/HOST:PORT/);
  });
});

describe("compileAgentOptions", () => {
  it("fills defaults from the host", () => {
    const o = compileAgentOptions({ controller: "127.0.0.1:7070", logger });
    expect(o.name.length).toBeGreaterThan(0);
    expect(o.slots).toBeGreaterThanOrEqual(1);
    expect(o.workDir).toMatch(/hodei-agent-/);
    expect(o.drainTimeoutMs).toBe(DEFAULTS.drainTimeoutMs);
    expect(o.maxUnackedLogBytes).toBe(32 << 20);
    expect(o.maxSpoolBytes).toBe(10 * 2 ** 30);
    expect(o.killMethod).toBe("auto");
    expect(o.backoff).toEqual({ initialMs: 200, factor: 2, maxMs: 10_000 });
    expect(compileAgentOptions(o)).toBe(o); // compiling twice is free
  });

  it("refuses bad values with the flag's name", () => {
    expect(() => compileAgentOptions({ controller: "x", logger })).toThrow(/--controller/);
    expect(() => compileAgentOptions({ controller: "h:1", slots: 0, logger })).toThrow(/--slots/);
    expect(() => compileAgentOptions({ controller: "h:1", drainTimeoutMs: -1, logger })).toThrow(/--drain-timeout/);
    expect(() => compileAgentOptions({ controller: "h:1", labels: { "bad key": "v" }, logger })).toThrow(/--labels/);
    expect(() => compileAgentOptions({ controller: "h:1", maxSpoolBytes: -1, logger })).toThrow(/--max-spool/);
    // @ts-expect-error: a value from outside TypeScript (env, JSON)
    expect(() => compileAgentOptions({ controller: "h:1", killMethod: "docker", logger })).toThrow(/--kill-method: must be one of auto, cgroup/);
    expect(compileAgentOptions({ controller: "h:1", maxSpoolBytes: 0, killMethod: "process-group", logger })).toMatchObject({ maxSpoolBytes: 0, killMethod: "process-group" });
  });
});

describe("Backoff", () => {
  it("grows 200 ms × 2 up to 10 s, with full jitter, and resets", () => {
    const ceilings: number[] = [];
    const b = new Backoff({ initialMs: 200, factor: 2, maxMs: 10_000 }, () => 0.999999);
    for (let i = 0; i < 9; i++) {
      ceilings.push(b.ceiling());
      const d = b.next();
      expect(d).toBeLessThan(ceilings.at(-1)!);
      expect(d).toBeGreaterThanOrEqual(0);
    }
    expect(ceilings).toEqual([200, 400, 800, 1600, 3200, 6400, 10_000, 10_000, 10_000]);
    expect(new Backoff({ initialMs: 200, factor: 2, maxMs: 10_000 }, () => 0).next()).toBe(0);
    b.reset();
    expect(b.ceiling()).toBe(200);
  });
});
