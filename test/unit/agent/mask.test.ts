/**
 * The agent's RunMasker: stdout and stderr are masked with separate states
 * over one set of values; a partial match is held at most MASK_HOLD_MS (on
 * a fake clock: no wall-clock assertion); short values warn without saying
 * the value; Hodei's own lines are masked too; close() releases everything.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { MASK_HOLD_MS, RunMasker } from "../../../agent/mask.js";
import { LogStream } from "../../../proto/gen/hodei/v1/common.js";

const { LOG_STREAM_STDOUT: OUT, LOG_STREAM_STDERR: ERR, LOG_STREAM_SYSTEM: SYS } = LogStream;

function collect(): { emit: (s: LogStream, d: Buffer) => void; text: (s: LogStream) => string; all: [LogStream, string][] } {
  const all: [LogStream, string][] = [];
  return {
    all,
    emit: (s, d) => all.push([s, d.toString()]),
    text: (s) =>
      all
        .filter(([x]) => x === s)
        .map(([, t]) => t)
        .join(""),
  };
}

beforeEach(() => vi.useFakeTimers());
afterEach(() => vi.useRealTimers());

describe("RunMasker", () => {
  it("holds a partial match until the delay, then releases it; the rest is still masked", () => {
    const c = collect();
    const m = new RunMasker(["the-secret-value"], c.emit);
    m.write(OUT, Buffer.from("x the-secret"));
    expect(c.text(OUT)).toBe("x ");
    vi.advanceTimersByTime(MASK_HOLD_MS - 1);
    expect(c.text(OUT)).toBe("x ");
    vi.advanceTimersByTime(1);
    expect(c.text(OUT)).toBe("x the-secret");
    m.write(OUT, Buffer.from("-value y\n"));
    expect(c.text(OUT)).toBe("x the-secret*** y\n");
  });

  it("a timer left from an earlier, resolved hold does not cut a new hold short", () => {
    const c = collect();
    const m = new RunMasker(["the-secret-value"], c.emit);
    m.write(OUT, Buffer.from("a the-sec"));
    vi.advanceTimersByTime(MASK_HOLD_MS - 100);
    m.write(OUT, Buffer.from("ond\n"));
    expect(c.text(OUT)).toBe("a the-second\n");
    vi.advanceTimersByTime(50);
    m.write(OUT, Buffer.from("b the-sec"));
    vi.advanceTimersByTime(100); // past the first hold's deadline
    expect(c.text(OUT)).toBe("a the-second\nb ");
    m.write(OUT, Buffer.from("ret-value\n"));
    expect(c.text(OUT)).toBe("a the-second\nb ***\n");
  });

  it("a value split across two writes within the delay never shows", () => {
    const c = collect();
    const m = new RunMasker(["the-secret-value"], c.emit);
    m.write(OUT, Buffer.from("x the-sec"));
    vi.advanceTimersByTime(MASK_HOLD_MS / 2);
    m.write(OUT, Buffer.from("ret-value y"));
    m.close();
    expect(c.text(OUT)).toBe("x *** y");
  });

  it("stdout and stderr keep separate states: halves on two streams are two halves", () => {
    const c = collect();
    const m = new RunMasker(["the-secret-value"], c.emit);
    m.write(OUT, Buffer.from("the-secret"));
    m.write(ERR, Buffer.from("-value\n"));
    m.write(ERR, Buffer.from("the-secret-value\n"));
    m.close();
    expect(c.text(OUT)).toBe("the-secret");
    expect(c.text(ERR)).toBe("-value\n***\n");
  });

  it("::add-mask:: on stdout masks on stderr and in Hodei's own lines", () => {
    const c = collect();
    const m = new RunMasker([], c.emit);
    m.write(OUT, Buffer.from("::add-mask::runtime-token-1\n"));
    m.write(ERR, Buffer.from("auth runtime-token-1 failed\n"));
    m.write(SYS, Buffer.from("hodei: checkout failed: runtime-token-1\n"));
    m.close();
    expect(c.text(OUT)).toBe("::add-mask::***\n");
    expect(c.text(ERR)).toBe("auth *** failed\n");
    expect(c.text(SYS)).toBe("hodei: checkout failed: ***\n");
  });

  it("a short value is not masked and the run's log says so, without the value", () => {
    const c = collect();
    const m = new RunMasker(["abc", "long-enough"], c.emit);
    m.write(OUT, Buffer.from("abc long-enough\n::add-mask::xy\n"));
    m.close();
    expect(c.text(OUT)).toBe("abc ***\n::add-mask::***\n");
    const sys = c.text(SYS);
    expect(sys).toContain("1 of the run's values to mask is shorter than 4 bytes and not masked");
    expect(sys).toContain("a value given with ::add-mask:: is shorter than 4 bytes");
    expect(sys).not.toContain("abc");
    expect(sys).not.toContain("xy");
  });

  it("close() releases what is held, masked, and stops the timer", () => {
    const c = collect();
    const m = new RunMasker(["the-secret-value"], c.emit);
    m.write(ERR, Buffer.from("tail the-sec"));
    m.close();
    expect(c.text(ERR)).toBe("tail the-sec");
    expect(vi.getTimerCount()).toBe(0);
  });
});
