/** The Action's inputs to settings (action/src/settings.ts): defaults, each input's checks, every error at once. */
import { describe, expect, it } from "vitest";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { readSettings } from "../../../action/src/settings.js";
import { idempotencyKey } from "../../../action/src/run.js";
import { tempDir } from "../../helpers/procs.js";

const ws = tempDir("hodei-settings-");
mkdirSync(join(ws, "ci"));
writeFileSync(join(ws, "ci/job.yaml"), "");
const ENV = { GITHUB_WORKSPACE: ws, GITHUB_SHA: "abc123", GITHUB_RUN_ID: "77", GITHUB_RUN_ATTEMPT: "2", GITHUB_JOB: "build", GITHUB_ACTION: "run-tests", GITHUB_REPOSITORY: "acme/web" };
const read = (inputs: Record<string, string>, env: NodeJS.ProcessEnv = ENV) => readSettings((n) => inputs[n] ?? "", env);

describe("the Action's settings", () => {
  it("defaults: remote, wait, follow logs, cancel on abort, no timeout; a repo's job runs at the workflow's commit", () => {
    const r = read({ controller: "hodei.example.com", token: "t", job: "build", repo: "web" });
    expect(r.ok && r.settings).toMatchObject({ mode: "remote", wait: true, followLogs: true, cancelOnAbort: true, timeoutMs: undefined, target: { kind: "repo", repo: "web", job: "build", ref: "abc123" } });
  });

  it("reads env lines, booleans in YAML's spellings, a duration, a spec file with a job in it", () => {
    const r = read({ controller: "h:1", token: "t", spec: "ci/job.yaml", job: "two", env: "A=1\n\n# note\nB=x=y\nC=", wait: "False", "follow-logs": "TRUE", timeout: "1h30m" });
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.settings.env).toEqual({ A: "1", B: "x=y", C: "" });
    expect(r.settings.target).toEqual({ kind: "file", spec: join(ws, "ci/job.yaml"), job: "two" });
    expect([r.settings.wait, r.settings.followLogs, r.settings.timeoutMs]).toEqual([false, true, 5_400_000]);
  });

  it("inline PEM for ca is kept as text; a path must exist", () => {
    const pem = read({ controller: "h", token: "t", job: "j", ca: "-----BEGIN CERTIFICATE-----\nabc\n-----END CERTIFICATE-----" });
    expect(pem.ok && pem.settings.ca).toEqual({ pem: "-----BEGIN CERTIFICATE-----\nabc\n-----END CERTIFICATE-----\n" });
    const missing = read({ controller: "h", token: "t", job: "j", ca: "certs/ca.crt" });
    expect(!missing.ok && missing.errors).toEqual(['input "ca": no file certs/ca.crt in the workspace; give the CA certificate\'s path, or its PEM text (-----BEGIN CERTIFICATE-----...)']);
  });

  it("reports every problem at once", () => {
    const r = read({ controller: "a b", job: "Not_A_Name", spec: "../../etc/passwd", ref: "main", env: "=1\nA=\0", "cancel-on-abort": "yes", timeout: "-1s" });
    expect(r.ok).toBe(false);
    if (r.ok) return;
    const expected = [
        'input "controller": "a b" is not an address',
        'input "token" is required with mode: remote',
        'input "job": "Not_A_Name" is not a job name',
        'input "ref" applies only with input "repo"',
        'input "spec": ../../etc/passwd is outside the workspace',
        'input "env", line 1: "" is not a variable name',
        'input "env", line 2: the value of A contains a NUL',
        'input "cancel-on-abort": "yes" is not a boolean',
        'input "timeout": invalid duration "-1s"',
    ];
    expect(r.errors.map((e, i) => (e.startsWith(expected[i] ?? "-") ? expected[i] : e))).toEqual(expected);
  });

  it("the idempotency key: one per workflow run, attempt and step; none shared outside Actions", () => {
    const w = (over: Record<string, string>) => (read({ controller: "h", token: "t", job: "j" }, { ...ENV, ...over }) as { ok: true; settings: { workflow: Parameters<typeof idempotencyKey>[0] } }).settings.workflow;
    const key = idempotencyKey(w({}));
    expect(key).toMatch(/^github-actions:77\.2:[0-9a-f]{32}$/);
    expect(idempotencyKey(w({}))).toBe(key);
    for (const other of [{ GITHUB_RUN_ATTEMPT: "3" }, { GITHUB_ACTION: "deploy" }, { GITHUB_JOB: "lint" }, { GITHUB_REPOSITORY: "acme/api" }] as Record<string, string>[]) expect(idempotencyKey(w(other))).not.toBe(key);
    expect(idempotencyKey(w({ GITHUB_RUN_ID: "" }))).not.toBe(idempotencyKey(w({ GITHUB_RUN_ID: "" })));
  });
});
