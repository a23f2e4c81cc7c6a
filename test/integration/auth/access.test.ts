/**
 * Access control through a real controller over loopback gRPC, with the CLI's
 * real client: every ControlService, GitOpsService and AuthService call ×
 * every role (and no token, and a project-scoped admin), allowed or refused as
 * docs/security.md specifies (the expectations are written here from the
 * spec, not read from controller/auth/permissions.ts); every refusal audited;
 * own-run and project rules; expired and revoked tokens; and no token ever in
 * the controller's log or in any row in clear.
 *
 * "Allowed" means the call got past the gate: it may still fail for its own
 * reasons (an unknown repo is NOT_FOUND), but never with UNAUTHENTICATED or
 * PERMISSION_DENIED.
 */
import { Writable } from "node:stream";
import { status } from "@grpc/grpc-js";
import { sql } from "kysely";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ControlClient } from "../../../cli/client.js";
import { ControllerError } from "../../../cli/errors.js";
import { startController, type Controller } from "../../../controller/server.js";
import { ControlServiceService } from "../../../proto/gen/hodei/v1/control.js";
import { GitOpsServiceService } from "../../../proto/gen/hodei/v1/gitops.js";
import { AuthServiceService } from "../../../proto/gen/hodei/v1/auth.js";
import { SecretsServiceService } from "../../../proto/gen/hodei/v1/secrets.js";
import type { Run } from "../../../proto/gen/hodei/v1/control.js";
import { DIALECTS, createTestStore, type TestStore } from "../../helpers/db.js";

type Role = "viewer" | "submitter" | "operator" | "admin";
const ROLES: Role[] = ["viewer", "submitter", "operator", "admin"];
const RANK: Record<Role, number> = { viewer: 0, submitter: 1, operator: 2, admin: 3 };

const job = (name: string): string => JSON.stringify({ apiVersion: "hodei.dev/v1", kind: "Job", metadata: { name }, spec: { run: "echo hi" } });

/** The call's gRPC status code, 0 when it succeeded. */
async function codeOf(p: Promise<unknown>): Promise<{ code: number; message: string }> {
  try {
    await p;
    return { code: 0, message: "" };
  } catch (err) {
    if (!(err instanceof ControllerError)) throw err;
    return { code: (err.cause as { code: number }).code, message: err.message };
  }
}

interface Fixtures {
  /** A queued run in project default, submitted by the caller's own token when it may submit, else by the admin. */
  run: Run;
}

/** Every call, the least role the spec gives it, and a way to make it. */
const CALLS: { method: string; need: Role; allProjects?: boolean; call: (c: ControlClient, f: Fixtures) => Promise<unknown> }[] = [
  { method: "ControlService.SubmitRun", need: "submitter", call: (c) => c.submitRun({ jobJson: job("t"), source: "t", idempotencyKey: "" }) },
  { method: "ControlService.GetRun", need: "viewer", call: (c, f) => c.getRun(f.run.id) },
  { method: "ControlService.ListRuns", need: "viewer", call: (c) => c.listRuns({}) },
  { method: "ControlService.CancelRun", need: "submitter", call: (c, f) => c.cancelRun(f.run.id) },
  { method: "ControlService.StreamLogs", need: "viewer", call: (c, f) => c.followLogs(f.run.id, { follow: false }, () => {}) },
  { method: "ControlService.ListAgents", need: "viewer", call: (c) => c.listAgents() },
  { method: "ControlService.WatchRuns", need: "viewer", call: (c) => firstEvent(c, c.openWatchRuns({ snapshotLimit: 1 })) },
  { method: "ControlService.WatchAgents", need: "viewer", call: (c) => firstEvent(c, c.openWatchAgents()) },
  { method: "ControlService.DrainAgent", need: "operator", call: (c) => c.drainAgent("no-such-agent") },
  { method: "ControlService.RerunRun", need: "submitter", call: (c, f) => c.rerunRun(f.run.id, "") },
  { method: "ControlService.WriteStdin", need: "submitter", call: (c, f) => writeStdin(c, f.run.id) },
  { method: "GitOpsService.AddRepo", need: "operator", call: (c) => c.addRepo({ url: "https://example.invalid/acme/x.git", name: `r${Math.random().toString(36).slice(2, 8)}`, noSync: true }) },
  { method: "GitOpsService.ListRepos", need: "viewer", call: (c) => c.listRepos() },
  { method: "GitOpsService.GetRepo", need: "viewer", call: (c) => c.getRepo("no-such-repo") },
  { method: "GitOpsService.SyncRepo", need: "operator", call: (c) => c.syncRepo("no-such-repo") },
  { method: "GitOpsService.RemoveRepo", need: "operator", call: (c) => c.removeRepo("no-such-repo") },
  { method: "GitOpsService.ListJobs", need: "viewer", call: (c) => c.listJobs() },
  { method: "GitOpsService.GetJob", need: "viewer", call: (c) => c.getJob("no-such-repo", "x") },
  { method: "GitOpsService.RunJob", need: "submitter", call: (c) => c.runJob({ repo: "no-such-repo", job: "x", idempotencyKey: "" }) },
  { method: "AuthService.CreateToken", need: "admin", allProjects: true, call: (c) => c.createToken({ name: `t${Math.random().toString(36).slice(2, 10)}`, role: "viewer", projects: [], expiresInMs: 0 }) },
  { method: "AuthService.ListTokens", need: "admin", allProjects: true, call: (c) => c.listTokens() },
  { method: "AuthService.RevokeToken", need: "admin", allProjects: true, call: (c) => c.revokeToken("no-such-token") },
  { method: "AuthService.WhoAmI", need: "viewer", call: (c) => c.whoAmI() },
  { method: "AuthService.ListAudit", need: "admin", allProjects: true, call: (c) => c.listAudit({}) },
  // Agents serve every project: an operator for every project enrolls them.
  { method: "AuthService.CreateJoinToken", need: "operator", allProjects: true, call: (c) => c.createJoinToken({ labels: {}, maxUses: 1, expiresInMs: 60_000, description: "access test" }) },
  { method: "AuthService.ListJoinTokens", need: "operator", allProjects: true, call: (c) => c.listJoinTokens() },
  { method: "AuthService.RevokeJoinToken", need: "operator", allProjects: true, call: (c) => c.revokeJoinToken("999999") },
  { method: "AuthService.RevokeAgent", need: "operator", allProjects: true, call: (c) => c.revokeAgent("no-such-agent") },
  // The controller here has no master key: an allowed SetSecret or RotateKey gets FAILED_PRECONDITION, which is past the gate.
  { method: "SecretsService.SetSecret", need: "admin", allProjects: true, call: (c) => c.setSecret("ACCESS_TEST", "", Buffer.from("value")) },
  { method: "SecretsService.ListSecrets", need: "admin", allProjects: true, call: (c) => c.listSecrets() },
  { method: "SecretsService.DeleteSecret", need: "admin", allProjects: true, call: (c) => c.deleteSecret("ACCESS_TEST") },
  { method: "SecretsService.RotateKey", need: "admin", allProjects: true, call: (c) => c.rotateKey() },
];

/** A watch stream's first event (then it is closed), or its error. */
function firstEvent(c: ControlClient, s: import("@grpc/grpc-js").ClientReadableStream<unknown>): Promise<unknown> {
  return new Promise((resolve, reject) => {
    s.on("data", () => {
      s.cancel();
      resolve(undefined);
    });
    s.on("error", (err: Parameters<ControlClient["translate"]>[0]) => (err.code === status.CANCELLED ? resolve(undefined) : reject(c.translate(err))));
    s.on("end", () => resolve(undefined));
  });
}

/** One stdin chunk, its acknowledgement or its error. */
function writeStdin(c: ControlClient, runId: string): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const s = c.openStdin();
    s.on("data", () => {
      s.end();
      resolve(undefined);
    });
    s.on("error", (err: Parameters<ControlClient["translate"]>[0]) => reject(c.translate(err)));
    s.on("end", () => resolve(undefined));
    s.write({ runId, seq: 0, data: Buffer.from("x"), eof: true });
  });
}

describe.each([DIALECTS[0]])("access control (%s)", (dialect) => {
  let store: TestStore;
  let controller: Controller;
  let admin: ControlClient;
  const logLines: string[] = [];
  const tokens = new Map<string, string>();
  const clients = new Map<string, ControlClient>();

  async function token(name: string, role: Role, projects: string[] = [], expiresInMs = 0): Promise<ControlClient> {
    const r = await admin.createToken({ name, role, projects, expiresInMs });
    tokens.set(name, r.token);
    const c = new ControlClient(controller.address, undefined, r.token);
    clients.set(name, c);
    return c;
  }

  beforeAll(async () => {
    store = await createTestStore(dialect);
    const sink = new Writable({
      write(chunk: Buffer, _enc, cb) {
        logLines.push(chunk.toString());
        cb();
      },
    });
    controller = await startController({ store, listen: "127.0.0.1:0", http: "127.0.0.1:0", logger: pino({ level: "debug" }, sink) });
    admin = new ControlClient(controller.address); // HODEI_TOKEN: the seeded admin token (global setup)
    // The seeded admin token is named "admin": ours is "root", stored under its role.
    for (const r of ROLES) clients.set(r, await token(r === "admin" ? "root" : r, r));
    await token("admin-web", "admin", ["web"]);
    await token("sub2", "submitter");
    await token("viewer-web", "viewer", ["web"]);
    await token("sub-web", "submitter", ["web"]);
    await token("op-web", "operator", ["web"]);
  });
  afterAll(async () => {
    for (const c of clients.values()) c.close();
    admin?.close();
    await controller?.stop();
    await store?.dispose();
  });

  it("lists every method of the services in this table", () => {
    const methods = [ControlServiceService, GitOpsServiceService, AuthServiceService, SecretsServiceService].flatMap((d) =>
      Object.values(d as Record<string, { path: string }>).map((m) => {
        const [, svc, rpc] = m.path.split("/");
        return `${svc!.split(".").pop()}.${rpc}`;
      }),
    );
    expect(CALLS.map((c) => c.method).sort()).toEqual(methods.sort());
  });

  /** A queued run of project default (stdin on, so WriteStdin has one to feed) for the caller to act on. */
  async function fixtures(caller: string): Promise<Fixtures> {
    const submitter = ["submitter", "operator", "admin"].includes(caller) ? clients.get(caller)! : admin;
    return { run: await submitter.submitRun({ jobJson: job("fixture"), source: "t", idempotencyKey: "", stdin: true }) };
  }

  for (const c of CALLS) {
    it(`${c.method}: no token → UNAUTHENTICATED, saying how to get one; audited`, async () => {
      const anon = new ControlClient(controller.address, undefined, "");
      try {
        const r = await codeOf(c.call(anon, await fixtures("admin")));
        expect(r.code).toBe(status.UNAUTHENTICATED);
        expect(r.message).toContain("hodei tokens create");
      } finally {
        anon.close();
      }
      const rows = await sql<{ n: string }>`select count(*) as n from audit_log where action = 'auth' and target = ${c.method} and outcome = 'denied'`.execute(store.db);
      expect(Number(rows.rows[0]!.n)).toBeGreaterThan(0);
    });

    for (const role of [...ROLES, "admin-web"] as const) {
      const roleOf: Role = role === "admin-web" ? "admin" : role;
      const allowed = RANK[roleOf] >= RANK[c.need] && !(role === "admin-web" && c.allProjects);
      it(`${c.method} × ${role}: ${allowed ? "allowed" : "PERMISSION_DENIED, audited"}`, async () => {
        const r = await codeOf(c.call(clients.get(role)!, await fixtures(role)));
        if (allowed) {
          expect([status.UNAUTHENTICATED, status.PERMISSION_DENIED], r.message).not.toContain(r.code);
        } else {
          expect(r.code, r.message).toBe(status.PERMISSION_DENIED);
          expect(r.message).toMatch(role === "admin-web" ? /every project/ : new RegExp(`needs the ${c.need} role`));
          const rows = await sql<{ n: string }>`select count(*) as n from audit_log where actor = ${role === "admin" ? "root" : role} and target = ${c.method} and outcome = 'denied'`.execute(store.db);
          expect(Number(rows.rows[0]!.n)).toBeGreaterThan(0);
        }
      });
    }
  }

  it("a submitter cancels and reruns its own runs only; an operator any; refusals name the operator role and are audited", async () => {
    const sub = clients.get("submitter")!;
    const mine = await sub.submitRun({ jobJson: job("mine"), source: "t", idempotencyKey: "" });
    expect(mine.submittedBy).toBe("submitter");
    const theirs = await clients.get("sub2")!.submitRun({ jobJson: job("theirs"), source: "t", idempotencyKey: "" });
    expect((await codeOf(sub.rerunRun(mine.id, ""))).code).toBe(0);
    expect((await codeOf(sub.cancelRun(mine.id))).code).toBe(0);
    const denied = await codeOf(sub.cancelRun(theirs.id));
    expect(denied.code).toBe(status.PERMISSION_DENIED);
    expect(denied.message).toContain("operator");
    expect((await codeOf(sub.rerunRun(theirs.id, ""))).code).toBe(status.PERMISSION_DENIED);
    const audited = await sql<{ action: string }>`select action from audit_log where actor = 'submitter' and target = ${`run ${theirs.id}`} and outcome = 'denied' order by id`.execute(store.db);
    expect(audited.rows.map((r) => r.action)).toEqual(["run.cancel", "run.rerun"]);
    expect((await codeOf(clients.get("operator")!.cancelRun(theirs.id))).code).toBe(0);
    const ok = await sql<{ outcome: string }>`select outcome from audit_log where actor = 'operator' and action = 'run.cancel' and target = ${`run ${theirs.id}`}`.execute(store.db);
    expect(ok.rows.map((r) => r.outcome)).toEqual(["allowed"]);
  });

  it("project-scoped tokens see and touch only their projects' runs; another project's run is NOT_FOUND", async () => {
    const other = await admin.submitRun({ jobJson: job("default-run"), source: "t", idempotencyKey: "" });
    const web = await clients.get("sub-web")!.submitRun({ jobJson: job("web-run"), source: "t", idempotencyKey: "" });
    expect(web.project).toBe("web"); // a one-project token's default
    const explicit = await admin.submitRun({ jobJson: job("web-by-admin"), source: "t", idempotencyKey: "", project: "web" });
    expect(explicit.project).toBe("web");
    const viewer = clients.get("viewer-web")!;
    const seen = await viewer.listRuns({ limit: 1000 });
    expect(seen.length).toBeGreaterThan(0);
    expect(new Set(seen.map((r) => r.project))).toEqual(new Set(["web"]));
    expect((await codeOf(viewer.getRun(other.id))).code).toBe(status.NOT_FOUND);
    expect((await codeOf(viewer.getRun(web.id))).code).toBe(0);
    expect((await codeOf(viewer.followLogs(other.id, { follow: false }, () => {}))).code).toBe(status.NOT_FOUND);
    const op = clients.get("op-web")!;
    expect((await codeOf(op.cancelRun(other.id))).code).toBe(status.NOT_FOUND);
    expect((await codeOf(op.rerunRun(other.id, ""))).code).toBe(status.NOT_FOUND);
    expect((await codeOf(op.cancelRun(explicit.id))).code).toBe(0);
    const outside = await codeOf(clients.get("sub-web")!.submitRun({ jobJson: job("x"), source: "t", idempotencyKey: "", project: "default" }));
    expect(outside.code).toBe(status.PERMISSION_DENIED);
    expect((await codeOf(clients.get("sub-web")!.submitRun({ jobJson: job("x"), source: "t", idempotencyKey: "", project: "Not A Project" }))).code).toBe(status.INVALID_ARGUMENT);
    // Repos: a web operator adds to web; the web viewer sees web's repos only.
    await admin.addRepo({ url: "https://example.invalid/acme/default-repo.git", name: "default-repo", noSync: true });
    const webRepo = await op.addRepo({ url: "https://example.invalid/acme/web-repo.git", name: "web-repo", noSync: true });
    expect(webRepo.project).toBe("web");
    const repos = await viewer.listRepos();
    expect(repos.map((r) => r.name)).toContain("web-repo");
    expect(new Set(repos.map((r) => r.project))).toEqual(new Set(["web"]));
    expect((await admin.listRepos()).map((r) => r.name)).toContain("default-repo");
    expect((await codeOf(viewer.getRepo("default-repo"))).code).toBe(status.NOT_FOUND);
    expect((await codeOf(op.removeRepo("default-repo"))).code).toBe(status.NOT_FOUND);
  });

  it("refuses expired and revoked tokens (UNAUTHENTICATED, saying which), and unknown or malformed ones; all audited", async () => {
    const soon = await token("short-lived", "admin", [], 1);
    await new Promise((r) => setTimeout(r, 20));
    const expired = await codeOf(soon.listRuns({}));
    expect(expired.code).toBe(status.UNAUTHENTICATED);
    expect(expired.message).toContain("expired");
    const doomed = await token("doomed", "admin");
    expect((await codeOf(doomed.listRuns({}))).code).toBe(0);
    await admin.revokeToken("doomed");
    const revoked = await codeOf(doomed.listRuns({}));
    expect(revoked.code).toBe(status.UNAUTHENTICATED);
    expect(revoked.message).toContain("revoked");
    for (const bad of ["hodei_" + "A".repeat(43), "not-a-token", "hodei_x"]) {
      const c = new ControlClient(controller.address, undefined, bad);
      expect((await codeOf(c.listRuns({}))).code).toBe(status.UNAUTHENTICATED);
      c.close();
    }
    const rows = await sql<{ actor: string; detail: { reason: string } }>`select actor, detail from audit_log where action = 'auth' and outcome = 'denied' and actor in ('short-lived', 'doomed') order by id`.execute(store.db);
    expect(rows.rows.map((r) => [r.actor, r.detail.reason])).toEqual([
      ["short-lived", "expired token"],
      ["doomed", "revoked token"],
    ]);
  });

  it("HTTP: /healthz, /readyz and the (HMAC-checked) webhooks need no token; a refused webhook is audited", async () => {
    const base = `http://${controller.httpAddress}`;
    expect((await fetch(`${base}/healthz`)).status).toBe(200);
    expect((await fetch(`${base}/readyz`)).status).toBe(200);
    await admin.addRepo({ url: "https://example.invalid/acme/hooked.git", name: "hooked", webhookSecret: "s3cret", noSync: true });
    const res = await fetch(`${base}/webhooks/github/hooked`, {
      method: "POST",
      headers: { "content-type": "application/json", "x-github-event": "push", "x-github-delivery": "d-forged", "x-hub-signature-256": `sha256=${"0".repeat(64)}` },
      body: JSON.stringify({ ref: "refs/heads/main", after: "a".repeat(40) }),
    });
    expect(res.status).toBe(401);
    const rows = await sql<{ actor: string; outcome: string; detail: { status: number; delivery: string } }>`select actor, outcome, detail from audit_log where action = 'webhook.reject'`.execute(store.db);
    expect(rows.rows.map((r) => [r.actor, r.outcome, r.detail.status, r.detail.delivery])).toEqual([["webhook:github", "denied", 401, "d-forged"]]);
  });

  it("token create and revoke are audited; no token is in the controller's log or in any row in clear", async () => {
    const made = await sql<{ target: string }>`select target from audit_log where action = 'token.create' and outcome = 'allowed'`.execute(store.db);
    expect(made.rows.map((r) => r.target)).toContain("token viewer-web");
    const all = [...tokens.values(), process.env.HODEI_TOKEN!];
    const log = logLines.join("");
    expect(log).toContain('"audit":true');
    for (const t of all) expect(log.includes(t), "a token in the log").toBe(false);
    for (const table of ["api_tokens", "audit_log", "runs", "repos"]) {
      const rows = await sql<{ t: string }>`select t::text as t from ${sql.table(table)} t`.execute(store.db);
      const text = rows.rows.map((r) => r.t).join("\n");
      expect(text.length).toBeGreaterThan(0);
      for (const t of all) expect(text.includes(t), `a token in ${table}`).toBe(false);
    }
  });
});
