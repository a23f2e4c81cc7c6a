import { describe, expect, it } from "vitest";
import { ago, outcome, printable, stateCell, table, runJson, terminalWidth, triggerRows, triggerShort, useColor } from "../../../cli/format.js";

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

describe("triggers of runs", () => {
  const push = { event: "push", repo: "web", ref: "refs/heads/main", commit: "abc1234def5678abc1234def5678abc1234def56", before: "0".repeat(40), base: "", actor: "ana", deliveryId: "d-1", fork: false, via: "webhook" };

  it("runs ls shows where a run came from, short", () => {
    expect(triggerShort(push)).toBe("push main@abc1234");
    expect(triggerShort({ ...push, event: "pull_request", ref: "refs/pull/7/head", fork: true })).toBe("pull_request pull/7/head@abc1234 (fork)");
    expect(triggerShort({ ...push, ref: "refs/tags/v1" })).toBe("push v1@abc1234");
    expect(triggerShort(undefined)).toBe("manual");
  });

  it("runs get lists event, repo, ref, commit, actor and delivery; a new branch's zero before is left out", () => {
    expect(triggerRows(push)).toEqual([["event", "push (webhook)"], ["repo", "web"], ["ref", "refs/heads/main"], ["commit", push.commit], ["actor", "ana"], ["delivery", "d-1"]]);
    expect(triggerRows({ ...push, event: "pull_request", fork: true })).toContainEqual(["fork", "yes (secrets are withheld)"]);
    expect(triggerRows(undefined)).toEqual([["event", "manual"]]);
  });

  it("--json has the trigger (null for a run submitted from a file)", () => {
    const run = { id: "1", jobName: "j", state: "queued", attempt: 1, signal: "", reason: "", message: "", agentId: "", agentName: "", createdAtMs: 0, startedAtMs: 0, finishedAtMs: 0, priority: 0, source: "", logChunks: 0, attempts: [], notBeforeMs: 0, unschedulableReason: "", stdin: false, inPlaceDir: "", project: "default", submittedBy: "" };
    expect(runJson({ ...run, trigger: push }).trigger).toMatchObject({ event: "push", commit: push.commit, deliveryId: "d-1", fork: false, via: "webhook" });
    expect(runJson({ ...run, trigger: undefined }).trigger).toBeNull();
  });
});

describe("table sized to the terminal", () => {
  const head = ["ID", "JOB", "STATE", "MESSAGE"];
  const rows = [
    ["01JABCDEFGHJKMNPQRSTVWXYZ0", "a-rather-long-job-name", "running", "a very long message that would never fit a narrow terminal"],
    ["01JABCDEFGHJKMNPQRSTVWXYZ1", "short", "failed", "x"],
  ];

  it("prints the natural table when it fits, aligned", () => {
    const lines = table(head, rows, Infinity).trimEnd().split("\n");
    expect(lines[1]).toContain("a very long message that would never fit a narrow terminal");
    expect(lines[0]!.indexOf("JOB")).toBe(lines[1]!.indexOf("a-rather"));
  });

  it("cuts the widest columns (never the first) to fit, marking the cut with …", () => {
    const out = table(head, rows, 70);
    for (const l of out.trimEnd().split("\n")) expect(l.length).toBeLessThanOrEqual(70);
    expect(out).toContain("01JABCDEFGHJKMNPQRSTVWXYZ0");
    expect(out).toContain("…");
  });

  it("leaves out columns from the right when cutting is not enough (40 columns)", () => {
    const out = table(head, rows, 40);
    const lines = out.trimEnd().split("\n");
    for (const l of lines) expect(l.length).toBeLessThanOrEqual(40);
    expect(lines[0]).toMatch(/^ID\s+JOB/);
    expect(lines[0]).not.toContain("MESSAGE");
    expect(out).toContain("01JABCDEFGHJKMNPQRSTVWXYZ1");
  });

  it("measures the escaped text, so a hostile cell cannot overflow", () => {
    const out = table(["NAME", "X"], [["\x1b".repeat(30), "y"]], 30);
    expect(out.split("\n")[1]).toMatch(/^(\\x1b)+\\?x?1?…$/);
    for (const l of out.trimEnd().split("\n")) expect(l.length).toBeLessThanOrEqual(30);
    expect(out).not.toContain("\x1b");
  });
});

describe("relative times", () => {
  const now = Date.UTC(2026, 0, 10, 12);
  it("says how long ago, coarsely, and how long until for the future", () => {
    expect(ago(now - 500, now)).toBe("just now");
    expect(ago(now - 12_000, now)).toBe("12s ago");
    expect(ago(now - 3 * 60_000 - 5_000, now)).toBe("3m ago");
    expect(ago(now - 5 * 3_600_000, now)).toBe("5h ago");
    expect(ago(now - 2 * 86_400_000, now)).toBe("2d ago");
    expect(ago(now + 29 * 86_400_000 + 1000, now)).toBe("in 29d");
    expect(ago(0, now)).toBe("-");
  });
});

describe("colour", () => {
  it("only on a terminal, never with NO_COLOR", () => {
    const saved = process.env.NO_COLOR;
    try {
      delete process.env.NO_COLOR;
      expect(useColor({ isTTY: true })).toBe(true);
      expect(useColor({ isTTY: false })).toBe(false);
      process.env.NO_COLOR = "1";
      expect(useColor({ isTTY: true })).toBe(false);
    } finally {
      if (saved === undefined) delete process.env.NO_COLOR;
      else process.env.NO_COLOR = saved;
    }
  });

  it("the width is the terminal's, else COLUMNS, else unlimited", () => {
    expect(terminalWidth({ isTTY: true, columns: 40 }, {})).toBe(40);
    expect(terminalWidth({ isTTY: false }, { COLUMNS: "50" })).toBe(50);
    expect(terminalWidth({ isTTY: false }, { COLUMNS: "nonsense" })).toBe(Infinity);
    expect(terminalWidth({ isTTY: false }, {})).toBe(Infinity);
  });
});
