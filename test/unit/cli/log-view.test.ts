import { describe, expect, it } from "vitest";
import { LogStream } from "../../../proto/gen/hodei/v1/common.js";
import { Stamper, TailBuffer, wanted, type Piece } from "../../../cli/log-view.js";
import { parseSince } from "../../../cli/commands/logs.js";
import { UsageError } from "../../../cli/errors.js";

const OUT = LogStream.LOG_STREAM_STDOUT;
const ERR = LogStream.LOG_STREAM_STDERR;
let seq = 0;
const piece = (stream: LogStream, text: string, tsMs = 1_000): Piece => ({ seq: seq++, stream, data: Buffer.from(text), tsMs, attempt: 1 });
const text = (ps: Piece[]): string[] => ps.map((p) => p.data.toString());

describe("--tail", () => {
  it("keeps the last N lines, joining lines split across chunks", () => {
    const t = new TailBuffer(2);
    for (const p of [piece(OUT, "one\ntw"), piece(OUT, "o\nthr"), piece(OUT, "ee\nfour\n")]) t.push(p);
    expect(text(t.end())).toEqual(["three\n", "four\n"]);
  });

  it("keeps a last line without its newline, and does not mix stdout and stderr lines", () => {
    const t = new TailBuffer(3);
    for (const p of [piece(OUT, "a-"), piece(ERR, "err line\n"), piece(OUT, "b\n"), piece(OUT, "no newline")]) t.push(p);
    const lines = t.end();
    expect(text(lines)).toEqual(["err line\n", "a-b\n", "no newline"]);
    expect(lines.map((l) => l.stream)).toEqual([ERR, OUT, OUT]);
  });

  it("--tail 0 shows nothing", () => {
    const t = new TailBuffer(0);
    t.push(piece(OUT, "x\ny\n"));
    expect(t.end()).toEqual([]);
  });
});

describe("--timestamps", () => {
  it("stamps each line start with the time of the chunk it starts in, per stream", () => {
    const s = new Stamper();
    const at = Date.UTC(2026, 0, 10, 12);
    expect(s.stamp(piece(OUT, "a\nb", at)).toString()).toBe("2026-01-10T12:00:00.000Z a\n2026-01-10T12:00:00.000Z b");
    expect(s.stamp(piece(ERR, "e\n", at + 1)).toString()).toBe("2026-01-10T12:00:00.001Z e\n");
    expect(s.stamp(piece(OUT, "-rest\nc\n", at + 2)).toString()).toBe("-rest\n2026-01-10T12:00:00.002Z c\n");
  });
});

describe("--stream and --since", () => {
  it("stderr includes the agent's notes; since compares the chunk's time", () => {
    const sys = piece(LogStream.LOG_STREAM_SYSTEM, "note\n");
    expect(wanted(sys, { stream: "stderr" })).toBe(true);
    expect(wanted(sys, { stream: "stdout" })).toBe(false);
    expect(wanted(piece(OUT, "x", 5), { sinceMs: 6 })).toBe(false);
    expect(wanted(piece(OUT, "x", 6), { sinceMs: 6 })).toBe(true);
  });

  it("parses a duration back from now or a date; anything else is a usage error", () => {
    expect(parseSince("5m", 1_000_000)).toBe(700_000);
    expect(parseSince("2026-01-10T12:00:00Z")).toBe(Date.UTC(2026, 0, 10, 12));
    for (const bad of ["nonsense", "-5m", "2026-13-45T99:00:00Z", "5 minutes", ""]) expect(() => parseSince(bad), bad).toThrow(UsageError);
  });
});
