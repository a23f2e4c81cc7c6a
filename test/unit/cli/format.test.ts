import { describe, expect, it } from "vitest";
import { outcome, printable, stateCell, table, runJson, triggerRows, triggerShort } from "../../../cli/format.js";

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
