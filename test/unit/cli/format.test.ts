import { describe, expect, it } from "vitest";
import { outcome, printable, stateCell, table } from "../../../cli/format.js";

describe("printable", () => {
  it("escapes C0, DEL, C1 and bidi controls, and leaves other text alone", () => {
    expect(printable("a\x1b[2Jb")).toBe("a\\x1b[2Jb");
    expect(printable("line\nnext\tcol\r")).toBe("line\\nnext\\tcol\\r");
    expect(printable("\x00\x07\x7f\x9b")).toBe("\\x00\\x07\\x7f\\x9b");
    expect(printable("abc\u202edef")).toBe("abc\\u202edef");
    expect(printable("héllo wörld ✔ 😀 C:\\path")).toBe("héllo wörld ✔ 😀 C:\\path");
  });
});

describe("table", () => {
  it("escapes every cell, colours only state cells, and aligns on the escaped width", () => {
    const out = table(["NAME", "STATE", "X"], [["ev\x1b[2Jil", stateCell("running", true), "1"], ["ok", stateCell("failed", false), "2"]]);
    const lines = out.split("\n");
    expect(lines[1]).toBe("ev\\x1b[2Jil  \x1b[36mrunning\x1b[0m  1");
    expect(lines[2]).toBe(`ok${" ".repeat(9)}  failed   2`);
  });
});

describe("outcome", () => {
  it("escapes what the agent said", () => {
    expect(outcome({ state: "failed", reason: "spawn_failed", exitCode: undefined, signal: "", message: "no\x1b]0;x\x07" })).toBe("failed (spawn_failed): no\\x1b]0;x\\x07");
    expect(outcome({ state: "failed", reason: "signaled", exitCode: undefined, signal: "SIG\x1b[2J", message: "" })).toBe("failed: killed by SIG\\x1b[2J");
  });
});
