import { describe, expect, it } from "vitest";
import { runExecSpec, type RunForSpec } from "../../../controller/runs/exec-spec.js";
import { decideRetry } from "../../../controller/runs/retry.js";
import { outcomeState } from "../../../controller/runs/transitions.js";

const job = (spec: Record<string, unknown> = {}) => ({ apiVersion: "hodei.dev/v1", kind: "Job", metadata: { name: "j" }, spec: { run: "true", ...spec } });
const commit = "a".repeat(40);
const trigger = { event: "push", repo: "web", ref: "refs/heads/main", commit, before: "b".repeat(40), fork: false, via: "poll" };
const repoRun = (spec?: Record<string, unknown>): RunForSpec => ({ id: "42", job: job(spec), source_digest: null, stdin: false, trigger, repo_id: "7", workspace_dir: null });

describe("runExecSpec", () => {
  it("a repo-triggered run checks out its commit, with the repo's URL and token, and says where it came from", () => {
    const s = runExecSpec(repoRun(), { url: "https://git.example/web.git", token: "tok" });
    expect(s.checkout).toEqual({ url: "https://git.example/web.git", commit, ref: "refs/heads/main", token: "tok" });
    expect(s.hodeiEnv).toEqual({ HODEI_RUN_ID: "42", HODEI_EVENT: "push", HODEI_REPO: "web", HODEI_REF: "refs/heads/main", HODEI_COMMIT: commit });
  });

  it("spec.checkout: false skips the checkout but keeps the variables", () => {
    const s = runExecSpec(repoRun({ checkout: false }), { url: "https://git.example/web.git", token: null });
    expect(s.checkout).toBeUndefined();
    expect(s.hodeiEnv.HODEI_COMMIT).toBe(commit);
  });

  it("a repo deleted meanwhile: a checkout without URL (the agent fails it as checkout), not an empty workspace", () => {
    const s = runExecSpec({ ...repoRun(), repo_id: null }, undefined);
    expect(s.checkout).toMatchObject({ url: "", commit, token: "" });
  });

  it("a run submitted from a file: no checkout, HODEI_EVENT=manual and its id", () => {
    const s = runExecSpec({ id: "3", job: job(), source_digest: "d".repeat(64), stdin: true, trigger: null, repo_id: null, workspace_dir: null }, undefined);
    expect(s.checkout).toBeUndefined();
    expect(s.hodeiEnv).toEqual({ HODEI_RUN_ID: "3", HODEI_EVENT: "manual" });
    expect(s).toMatchObject({ sourceDigest: "d".repeat(64), stdin: true, workspaceDir: "" });
  });

  it("a run in place: its directory goes to the agent as the workspace", () => {
    const s = runExecSpec({ id: "4", job: job(), source_digest: null, stdin: false, trigger: null, repo_id: null, workspace_dir: "/home/me/web" }, undefined);
    expect(s).toMatchObject({ workspaceDir: "/home/me/web", sourceDigest: "" });
    expect(s.checkout).toBeUndefined();
  });
});

describe("the checkout reason", () => {
  it("fails the run and is retried as infrastructure", () => {
    expect(outcomeState("checkout")).toBe("failed");
    expect(decideRetry({ limit: 1, on: ["infrastructure"] }, 0, "checkout", null, 0).retry).toBe(true);
    expect(decideRetry({ limit: 1, on: ["failure"] }, 0, "checkout", null, 0).retry).toBe(false);
  });
});
