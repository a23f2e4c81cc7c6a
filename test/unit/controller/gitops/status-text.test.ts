/**
 * What a run's GitHub commit status says (controller/gitops/status-text.ts)
 * and which repository URLs are on GitHub (controller/gitops/github-repo.ts).
 */
import { describe, expect, it } from "vitest";
import { githubHost, parseGitHubRepo } from "../../../../controller/gitops/github-repo.js";
import { MAX_DESCRIPTION, oneLine, shortDuration, statusText } from "../../../../controller/gitops/status-text.js";
import type { RunRow } from "../../../../controller/store/schema.js";

const T0 = new Date("2026-12-01T10:00:00Z");
const after = (s: number) => new Date(T0.getTime() + s * 1000);
const run = (over: Partial<RunRow>) =>
  ({ state: "queued", reason: null, exit_code: null, signal: null, message: "", created_at: T0, started_at: null, finished_at: null, ...over }) as RunRow;

describe("statusText", () => {
  it.each([
    [run({ state: "queued" }), "pending", "queued"],
    [run({ state: "assigned" }), "pending", "queued"],
    [run({ state: "running", started_at: T0 }), "pending", "running"],
    [run({ state: "succeeded", reason: "exited", exit_code: 0, started_at: T0, finished_at: after(12) }), "success", "succeeded in 12s"],
    [run({ state: "failed", reason: "exited", exit_code: 2, started_at: T0, finished_at: after(65) }), "failure", "failed: exit code 2 after 1m 5s"],
    [run({ state: "failed", reason: "signaled", signal: "SIGKILL", started_at: T0, finished_at: after(1) }), "failure", "failed: killed by SIGKILL after 1s"],
    [run({ state: "failed", reason: "spawn_failed", message: "bash: not found" }), "failure", "failed to start: bash: not found"],
    [run({ state: "timed_out", reason: "timeout", started_at: T0, finished_at: after(600) }), "failure", "timed out after 10m"],
    [run({ state: "cancelled", reason: "cancelled", message: "cancelled by alice" }), "error", "cancelled: cancelled by alice"],
    [run({ state: "failed", reason: "infrastructure", message: "agent lost" }), "error", "infrastructure failure: agent lost"],
    [run({ state: "failed", reason: "unschedulable", message: "no agent has os=plan9" }), "error", "unschedulable: no agent has os=plan9"],
  ])("%#: %s → %s %s", (r, state, description) => {
    expect(statusText(r)).toEqual({ state, description });
  });

  it("keeps a description on one line of at most 140 characters", () => {
    const d = statusText(run({ state: "failed", reason: "infrastructure", message: `line one\nline\ttwo ${"x".repeat(300)}` })).description;
    expect(d).not.toMatch(/[\n\t]/);
    expect([...d]).toHaveLength(MAX_DESCRIPTION);
    expect(d.endsWith("…")).toBe(true);
    expect(oneLine("  a \r\n b  ")).toBe("a b");
  });

  it("writes durations short", () => {
    expect([0, 999, 59_000, 60_000, 3_600_000, 3_725_000].map(shortDuration)).toEqual(["0s", "1s", "59s", "1m", "1h", "1h 2m"]);
  });
});

describe("parseGitHubRepo", () => {
  const gh = githubHost("https://api.github.com");

  it("finds owner and repo in https, ssh, git and scp-like URLs on github.com", () => {
    for (const url of [
      "https://github.com/acme/widgets",
      "https://github.com/acme/widgets.git",
      "https://x-access-token:secret@github.com/acme/widgets.git/",
      "ssh://git@github.com/acme/widgets.git",
      "ssh://git@github.com:22/acme/widgets",
      "git://github.com/acme/widgets.git",
      "git@github.com:acme/widgets.git",
      "GitHub.com:acme/widgets",
    ]) {
      expect(parseGitHubRepo(url, gh), url).toEqual({ owner: "acme", repo: "widgets" });
    }
  });

  it("answers undefined off GitHub, for local paths and for paths that are not OWNER/REPO", () => {
    for (const url of ["https://gitlab.com/acme/widgets", "/srv/git/widgets", "file:///srv/git/widgets", "https://github.com/acme", "https://github.com/acme/widgets/tree/main", "git@github.com:acme/../widgets"]) {
      expect(parseGitHubRepo(url, gh), url).toBeUndefined();
    }
  });

  it("uses the API's host for GitHub Enterprise", () => {
    const ghe = githubHost("https://ghe.example.com/api/v3");
    expect(ghe).toBe("ghe.example.com");
    expect(parseGitHubRepo("git@ghe.example.com:platform/deploy.git", ghe)).toEqual({ owner: "platform", repo: "deploy" });
    expect(parseGitHubRepo("https://github.com/platform/deploy", ghe)).toBeUndefined();
  });
});
