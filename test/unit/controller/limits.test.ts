import { describe, expect, it } from "vitest";
import { boundAgentMessage, clampSlots, helloProblem, LIMITS, truncate } from "../../../controller/agents/limits.js";
import { Hello } from "../../../proto/gen/hodei/v1/agent.js";

describe("agent limits", () => {
  it("truncate keeps short strings, cuts long ones with a marker, and never splits a surrogate pair", () => {
    expect(truncate("short", 10)).toBe("short");
    expect(truncate("x".repeat(12), 10)).toBe("xxxxxxxxxx… [2 more characters]");
    const cut = truncate("a".repeat(9) + "😀" + "b", 10);
    expect(cut).toBe("aaaaaaaaa… [3 more characters]");
  });

  it("clampSlots: at least 1, at most the cap", () => {
    expect(clampSlots(0, 256)).toBe(1);
    expect(clampSlots(-5, 256)).toBe(1);
    expect(clampSlots(10_000, 256)).toBe(256);
    expect(clampSlots(8, 256)).toBe(8);
  });

  it("helloProblem names absurd identities and passes ordinary ones", () => {
    const ok = Hello.fromPartial({ name: "a", labels: { "example.com/pool": "gpu", os: "linux" } });
    expect(helloProblem(ok)).toBeUndefined();
    expect(helloProblem(Hello.fromPartial({ name: "  " }))).toMatch(/agent name/);
    expect(helloProblem(Hello.fromPartial({ name: "a", labels: Object.fromEntries(Array.from({ length: LIMITS.labels + 1 }, (_, i) => [`k${i}`, ""])) }))).toMatch(/at most 64 labels/);
    expect(helloProblem(Hello.fromPartial({ name: "a", labels: { k: "v".repeat(LIMITS.labelValue + 1) } }))).toMatch(/value of 254 characters/);
    expect(helloProblem(Hello.fromPartial({ name: "a", labels: { ["k".repeat(LIMITS.labelKey + 1)]: "v" } }))).toMatch(/label key/);
  });

  it("boundAgentMessage truncates a RunFinished's message and signal, and leaves log bytes alone", () => {
    const fin = boundAgentMessage({ msg: { $case: "runFinished", value: { runId: "1", attempt: 1, reason: 0, signal: "S".repeat(100), message: "m".repeat(10_000), logChunks: 0, finishedAtMs: 0, usage: undefined } } });
    if (!("msg" in fin) || fin.msg.msg?.$case !== "runFinished") throw new Error("expected a runFinished");
    expect(fin.msg.msg.value.message.length).toBeLessThan(LIMITS.message + 40);
    expect(fin.msg.msg.value.signal.length).toBeLessThan(LIMITS.signal + 40);
    const data = Buffer.alloc(1 << 20, 0x1b);
    const batch = { msg: { $case: "logBatch" as const, value: { runId: "1", attempt: 1, firstSeq: 0, chunks: [{ stream: 1, data, tsMs: 0 }] } } };
    expect(boundAgentMessage(batch)).toEqual({ msg: batch });
  });
});
