/**
 * Webhooks against a real controller (in this process) on PostgreSQL, over
 * real HTTP on loopback, with real git repositories in temp dirs: the hostile
 * matrix (each refused with the right status, recorded, nothing started, the
 * listener still healthy), then good deliveries: a push starts its job once
 * however often it is delivered and whether a poll saw it first; a deletion
 * starts nothing; a pull request runs at its head commit.
 */
import { execFileSync } from "node:child_process";
import { createHmac, randomUUID } from "node:crypto";
import { mkdirSync, writeFileSync } from "node:fs";
import { request } from "node:http";
import { join } from "node:path";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startController, type Controller } from "../../../controller/server.js";
import { insertRepo, getRepoByName } from "../../../controller/store/repos.js";
import { Syncer } from "../../../controller/gitops/sync.js";
import { pushesFromSync } from "../../../controller/gitops/pushes.js";
import { webhookRoute } from "../../../controller/gitops/webhooks.js";
import { startHttp } from "../../../controller/http.js";
import { createTestDatabase, type TestDatabase } from "../../helpers/db.js";
import { tempDir } from "../../helpers/procs.js";

const SECRET = "s3cret-for-tests";
const log = pino({ level: "silent" });
let db: TestDatabase;
let ctl: Controller;
let base: string;
const dir = tempDir("hodei-webhooks-");
const bare = join(dir, "app.git");
const work = join(dir, "work");

const git = (cwd: string, ...args: string[]): string =>
  execFileSync("git", ["-c", "user.name=t", "-c", "user.email=t@example.com", "-c", "init.defaultBranch=main", ...args], { cwd, encoding: "utf8" }).trim();

function commitJob(file: string, text: string, message: string): string {
  mkdirSync(join(work, ".hodei"), { recursive: true });
  writeFileSync(join(work, ".hodei", file), text);
  git(work, "add", "-A");
  git(work, "commit", "-q", "-m", message);
  return git(work, "rev-parse", "HEAD");
}

const JOB = (name: string, triggers: string): string => `apiVersion: hodei.dev/v1\nkind: Job\nmetadata: { name: ${name} }\nspec:\n  run: echo hi\n  triggers: ${triggers}\n`;
const sign = (body: string, secret = SECRET): string => `sha256=${createHmac("sha256", secret).update(body).digest("hex")}`;

interface Answer {
  status: number;
  body: Record<string, unknown>;
}

async function post(path: string, body: string, headers: Record<string, string>, method = "POST"): Promise<Answer> {
  const r = await fetch(`http://${base}${path}`, { method, body: method === "GET" ? undefined : body, headers });
  const text = await r.text();
  return { status: r.status, body: text ? (JSON.parse(text) as Record<string, unknown>) : {} };
}

function githubPush(p: { ref?: string; before: string; after: string; deleted?: boolean; url?: string }): string {
  const url = p.url ?? `file://${bare}`;
  return JSON.stringify({
    ref: p.ref ?? "refs/heads/main",
    before: p.before,
    after: p.after,
    deleted: p.deleted ?? false,
    created: false,
    pusher: { name: "alice" },
    sender: { login: "alice" },
    repository: { clone_url: url, ssh_url: "git@example.invalid:x/y.git", git_url: url, html_url: url },
  });
}

const gh = (event: string, body: string, over: Record<string, string> = {}): Record<string, string> => ({
  "content-type": "application/json",
  "x-github-event": event,
  "x-github-delivery": randomUUID(),
  "x-hub-signature-256": sign(body),
  ...over,
});

const runCount = async (): Promise<number> => Number((await ctl.store.db.selectFrom("runs").select((eb) => eb.fn.countAll().as("n")).executeTakeFirstOrThrow()).n);
const deliveries = async (status: number): Promise<number> =>
  Number((await ctl.store.db.selectFrom("webhook_deliveries").select((eb) => eb.fn.countAll().as("n")).where("status", "=", status).executeTakeFirstOrThrow()).n);

let first: string;

beforeAll(async () => {
  db = await createTestDatabase();
  // Answers wait for the work however slow the machine (the 202 path has its own test below).
  ctl = await startController({ databaseUrl: db.url, listen: "127.0.0.1:0", http: "127.0.0.1:0", mirrorsDir: join(dir, "mirrors"), logger: log, webhookReplyWithinMs: 120_000 });
  base = ctl.httpAddress!;
  git(dir, "init", "-q", "--bare", bare);
  git(dir, "clone", "-q", bare, work);
  first = commitJob("build.yaml", JOB("build", "{ push: { branches: [main] } }"), "first");
  git(work, "push", "-q", "origin", "main");
  await insertRepo(ctl.store.db, { name: "app", url: `file://${bare}`, branch: "main", path: ".hodei", platform: false, webhookSecret: SECRET, pollIntervalMs: 0 });
  await insertRepo(ctl.store.db, { name: "nosecret", url: "https://example.invalid/acme/nosecret.git", branch: "main", path: ".hodei", platform: false, pollIntervalMs: 0 });
});

afterAll(async () => {
  await ctl?.stop();
  await db?.drop();
});

function rawPost(path: string, headers: Record<string, string>, send: (write: (b: Buffer) => boolean) => void): Promise<number> {
  return new Promise((resolve, reject) => {
    const [host, port] = base.split(":");
    let answered = false;
    const req = request({ host, port: Number(port), path, method: "POST", headers }, (res) => {
      answered = true;
      res.resume();
      req.destroy();
      resolve(res.statusCode ?? 0);
    });
    req.on("error", (err) => (answered ? undefined : reject(err)));
    req.flushHeaders();
    send((b) => !answered && req.write(b));
  });
}

describe("hostile requests: refused, recorded, nothing started", () => {
  it("answers each mistake with its status, starts no run, records it, and stays healthy", async () => {
    const body = githubPush({ before: first, after: first });
    const cases: { what: string; answer: () => Promise<number>; status: number }[] = [
      { what: "wrong signature", answer: async () => (await post("/webhooks/github", body, gh("push", body, { "x-hub-signature-256": sign(body, "not-the-secret") }))).status, status: 401 },
      {
        what: "missing signature",
        answer: async () => {
          const h = gh("push", body);
          delete h["x-hub-signature-256"];
          return (await post("/webhooks/github", body, h)).status;
        },
        status: 401,
      },
      { what: "signature of another body", answer: async () => (await post("/webhooks/github", body, gh("push", body, { "x-hub-signature-256": sign(body + " ") }))).status, status: 401 },
      { what: "repo without a secret", answer: async () => (await post("/webhooks/github/nosecret", body, gh("push", body))).status, status: 401 },
      { what: "gitlab wrong token", answer: async () => (await post("/webhooks/gitlab/app", body, { "content-type": "application/json", "x-gitlab-event": "Push Hook", "x-gitlab-token": "nope" })).status, status: 401 },
      { what: "unknown repository URL", answer: async () => (await post("/webhooks/github", githubPush({ before: first, after: first, url: "https://example.invalid/nobody/nothing" }), gh("push", body))).status, status: 404 },
      { what: "unknown repository name", answer: async () => (await post("/webhooks/github/nothing", body, gh("push", body))).status, status: 404 },
      { what: "malformed JSON", answer: async () => (await post("/webhooks/github", "{not json", gh("push", "{not json"))).status, status: 400 },
      { what: "wrong content type", answer: async () => (await post("/webhooks/github", body, gh("push", body, { "content-type": "application/x-www-form-urlencoded" }))).status, status: 415 },
      { what: "GET instead of POST", answer: async () => (await post("/webhooks/github", "", { "x-github-event": "push" }, "GET")).status, status: 405 },
      {
        what: "oversized body (declared)",
        answer: () => rawPost("/webhooks/github", { "content-type": "application/json", "content-length": String(6 * 1024 * 1024), "x-github-event": "push" }, () => {}),
        status: 413,
      },
      {
        what: "oversized body (chunked, no length)",
        answer: () =>
          rawPost("/webhooks/github", { "content-type": "application/json", "transfer-encoding": "chunked", "x-github-event": "push" }, (write) => {
            // 6 MiB in 64 KiB chunks, stopping once the answer came (the server stops reading at 5 MiB).
            let sent = 0;
            const chunk = Buffer.alloc(64 * 1024, 0x20);
            const more = (): void => {
              while (sent < 6 * 1024 * 1024) {
                sent += chunk.length;
                if (!write(chunk)) return void setTimeout(more, 5);
              }
            };
            more();
          }),
        status: 413,
      },
    ];
    const got: Record<string, number> = {};
    for (const c of cases) got[c.what] = await c.answer();
    expect(got).toEqual(Object.fromEntries(cases.map((c) => [c.what, c.status])));
    expect(await runCount()).toBe(0);
    expect(await deliveries(401)).toBe(5);
    for (const s of [400, 404, 405, 413, 415]) expect(await deliveries(s)).toBeGreaterThan(0);
    // Nothing secret in the record.
    const outcomes = await ctl.store.db.selectFrom("webhook_deliveries").select(["outcome", "delivery_id"]).execute();
    expect(JSON.stringify(outcomes)).not.toContain(SECRET);
    expect(JSON.stringify(outcomes)).not.toContain(sign(body).slice(7));
    expect((await fetch(`http://${base}/healthz`)).status).toBe(200);
  });

  it("answers an event it does not act on 202 (ignored) and a ping 200, starting nothing", async () => {
    const body = JSON.stringify({ zen: "hi", repository: { clone_url: `file://${bare}` } });
    const star = await post("/webhooks/github", body, gh("star", body));
    expect(star.status).toBe(202);
    expect(star.body.ignored).toBe(true);
    const ping = await post("/webhooks/github", body, gh("ping", body));
    expect(ping).toMatchObject({ status: 200, body: { pong: true, repo: "app" } });
    expect(await runCount()).toBe(0);
  });
});

describe("deliveries that start runs", () => {
  it("a push starts its job at the pushed commit, once: a redelivery answers duplicate and starts nothing", async () => {
    const sha = commitJob("build.yaml", JOB("build", "{ push: { branches: [main] } }") + "# 2\n", "second");
    git(work, "push", "-q", "origin", "main");
    const body = githubPush({ before: first, after: sha });
    const headers = gh("push", body);
    const a = await post("/webhooks/github", body, headers);
    expect(a, JSON.stringify(a.body)).toMatchObject({ status: 200 });
    expect(a.body).toMatchObject({ repo: "app", event: "push", started: [{ job: "build" }] });
    const runId = (a.body.started as { run: string }[])[0]!.run;
    const run = await ctl.store.db.selectFrom("runs").selectAll().where("id", "=", runId).executeTakeFirstOrThrow();
    expect(run.trigger).toMatchObject({ event: "push", commit: sha, ref: "refs/heads/main", deliveryId: headers["x-github-delivery"], actor: "alice" });

    const again = await post("/webhooks/github", body, headers);
    expect(again).toMatchObject({ status: 200, body: { duplicate: true } });
    // A new delivery id for the same push (GitHub's "redeliver" keeps the id; a second hook would not): still one run.
    const other = await post("/webhooks/github", body, gh("push", body));
    expect(other.status).toBe(200);
    expect(other.body.started).toEqual([{ job: "build", run: runId }]);
    expect(await runCount()).toBe(1);
  });

  it("a push deleting a branch starts nothing", async () => {
    git(work, "push", "-q", "origin", "main:refs/heads/gone");
    git(work, "push", "-q", "origin", ":refs/heads/gone");
    const before = await runCount();
    const body = githubPush({ ref: "refs/heads/gone", before: git(work, "rev-parse", "HEAD"), after: "0".repeat(40), deleted: true });
    const a = await post("/webhooks/github", body, gh("push", body));
    expect(a, JSON.stringify(a.body)).toMatchObject({ status: 200 });
    expect(a.body.started).toEqual([]);
    expect(await runCount()).toBe(before);
  });

  it("a commit seen by a poll (another controller's sync) and by a webhook runs once, in either order", async () => {
    const repo = (await getRepoByName(ctl.store.db, "app"))!;
    const poller = new Syncer(ctl.store.db, join(dir, "mirrors2"), log, pushesFromSync(ctl.store, log));
    await poller.sync(repo, "poll"); // the poller's view of the refs now
    // Poll first, then the webhook.
    const prev = git(work, "rev-parse", "HEAD");
    const sha = commitJob("build.yaml", JOB("build", "{ push: { branches: [main] } }") + "# 3\n", "third");
    git(work, "push", "-q", "origin", "main");
    const n0 = await runCount();
    await poller.sync(repo, "poll");
    expect(await runCount()).toBe(n0 + 1);
    const body = githubPush({ before: prev, after: sha });
    const a = await post("/webhooks/github", body, gh("push", body));
    expect(a, JSON.stringify(a.body)).toMatchObject({ status: 200 });
    expect((a.body.started as unknown[]).length).toBe(1);
    expect(await runCount()).toBe(n0 + 1);
    // The webhook first, then the poll.
    const sha4 = commitJob("build.yaml", JOB("build", "{ push: { branches: [main] } }") + "# 4\n", "fourth");
    git(work, "push", "-q", "origin", "main");
    const body4 = githubPush({ before: sha, after: sha4 });
    expect((await post("/webhooks/github", body4, gh("push", body4))).status).toBe(200);
    expect(await runCount()).toBe(n0 + 2);
    await poller.sync(repo, "poll");
    expect(await runCount()).toBe(n0 + 2);
    const runs = await ctl.store.db.selectFrom("runs").select("trigger").execute();
    const commits = runs.map((r) => (r.trigger as { commit: string }).commit);
    expect(commits.filter((c) => c === sha).length).toBe(1);
    expect(commits.filter((c) => c === sha4).length).toBe(1);
  });

  it("an annotated tag's push (after = the tag object) runs the tag-triggered job at the tagged commit", async () => {
    const sha = commitJob("release.yaml", JOB("release", '{ push: { tags: ["v*"] } }'), "release job");
    git(work, "push", "-q", "origin", "main");
    git(work, "tag", "-a", "v1.0.0", "-m", "v1");
    git(work, "push", "-q", "origin", "v1.0.0");
    const tagObject = git(work, "rev-parse", "v1.0.0");
    expect(tagObject).not.toBe(sha);
    const body = githubPush({ ref: "refs/tags/v1.0.0", before: "0".repeat(40), after: tagObject });
    const a = await post("/webhooks/github", body, gh("push", body));
    expect(a, JSON.stringify(a.body)).toMatchObject({ status: 200, body: { started: [{ job: "release" }] } });
    const runId = (a.body.started as { run: string }[])[0]!.run;
    const run = await ctl.store.db.selectFrom("runs").selectAll().where("id", "=", runId).executeTakeFirstOrThrow();
    expect(run.trigger).toMatchObject({ ref: "refs/tags/v1.0.0", commit: sha });
  });

  it("the generic endpoint takes its documented body, signed the GitHub way", async () => {
    const prev = git(work, "rev-parse", "HEAD");
    const sha = commitJob("build.yaml", JOB("build", "{ push: { branches: [main] } }") + "# 5\n", "fifth");
    git(work, "push", "-q", "origin", "main");
    const body = JSON.stringify({ event: "push", delivery: randomUUID(), repository: { url: `${bare}/` }, ref: "refs/heads/main", before: prev, after: sha, actor: "ci" });
    const a = await post("/webhooks/generic", body, { "content-type": "application/json", "x-hub-signature-256": sign(body) });
    expect(a, JSON.stringify(a.body)).toMatchObject({ status: 200 });
    expect(a.body).toMatchObject({ repo: "app", started: [{ job: "build" }] });
    const bad = await post("/webhooks/generic", body, { "content-type": "application/json", "x-hub-signature-256": sign(body, "x") });
    expect(bad.status).toBe(401);
  });

  it("a GitLab push with the right token starts the job", async () => {
    const prev = git(work, "rev-parse", "HEAD");
    const sha = commitJob("build.yaml", JOB("build", "{ push: { branches: [main] } }") + "# 6\n", "sixth");
    git(work, "push", "-q", "origin", "main");
    const body = JSON.stringify({ object_kind: "push", ref: "refs/heads/main", before: prev, after: sha, user_username: "bob", project: { git_http_url: `file://${bare}` } });
    const a = await post("/webhooks/gitlab", body, { "content-type": "application/json", "x-gitlab-event": "Push Hook", "x-gitlab-token": SECRET, "x-gitlab-event-uuid": randomUUID() });
    expect(a, JSON.stringify(a.body)).toMatchObject({ status: 200 });
    expect(a.body).toMatchObject({ repo: "app", started: [{ job: "build" }] });
  });

  it("a pull request runs its head commit's matching job once per head commit, with base and fork in the trigger", async () => {
    git(work, "checkout", "-q", "-b", "feature");
    const head = commitJob("pr.yaml", JOB("checks", "{ pullRequest: { branches: [main] } }"), "pr job");
    git(work, "push", "-q", "origin", "feature:refs/pull/7/head");
    git(work, "checkout", "-q", "main");
    const pr = (action: string): string =>
      JSON.stringify({
        action,
        number: 7,
        pull_request: { number: 7, head: { sha: head, ref: "feature", repo: { id: 2 } }, base: { sha: git(work, "rev-parse", "main"), ref: "main", repo: { id: 1 } } },
        repository: { clone_url: `file://${bare}` },
        sender: { login: "carol" },
      });
    const opened = await post("/webhooks/github", pr("opened"), gh("pull_request", pr("opened")));
    expect(opened, JSON.stringify(opened.body)).toMatchObject({ status: 200 });
    expect(opened.body).toMatchObject({ started: [{ job: "checks" }] });
    const runId = (opened.body.started as { run: string }[])[0]!.run;
    const run = await ctl.store.db.selectFrom("runs").selectAll().where("id", "=", runId).executeTakeFirstOrThrow();
    expect(run.trigger).toMatchObject({ event: "pull_request", commit: head, base: "refs/heads/main", fork: true, pullRequest: 7, actor: "carol" });
    const sync = await post("/webhooks/github", pr("synchronize"), gh("pull_request", pr("synchronize")));
    expect(sync.body.started).toEqual([{ job: "checks", run: runId }]);
    const closed = await post("/webhooks/github", pr("closed"), gh("pull_request", pr("closed")));
    expect(closed.body.started).toEqual([]);
  });

  it("work that outlasts the answer's wait is answered 202 and goes on: the run appears", async () => {
    const syncer = new Syncer(ctl.store.db, join(dir, "mirrors3"), log, pushesFromSync(ctl.store, log));
    // Waits 0 ms: any sync (a git fetch) takes longer, so the answer is always 202.
    const http = await startHttp(ctl.store.db, "127.0.0.1", 0, [webhookRoute({ store: ctl.store, syncer, log, replyWithinMs: 0 })]);
    try {
      const prev = git(work, "rev-parse", "HEAD");
      const sha = commitJob("build.yaml", JOB("build", "{ push: { branches: [main] } }") + "# 7\n", "seventh");
      git(work, "push", "-q", "origin", "main");
      const body = githubPush({ before: prev, after: sha });
      const r = await fetch(`http://${http.address}/webhooks/github`, { method: "POST", body, headers: gh("push", body) });
      expect(r.status).toBe(202);
      expect(await r.json()).toMatchObject({ accepted: true, repo: "app" });
      let found = false;
      for (let i = 0; i < 300 && !found; i++) {
        const runs = await ctl.store.db.selectFrom("runs").select("trigger").execute();
        found = runs.some((x) => (x.trigger as { commit?: string } | null)?.commit === sha);
        if (!found) await new Promise((res) => setTimeout(res, 100));
      }
      expect(found).toBe(true);
    } finally {
      await http.close();
    }
  });

  it("after everything, a good delivery still works and /healthz is 200", async () => {
    const body = JSON.stringify({ zen: "still here", repository: { clone_url: `file://${bare}` } });
    expect((await post("/webhooks/github/app", body, gh("ping", body))).status).toBe(200);
    expect((await fetch(`http://${base}/healthz`)).status).toBe(200);
  });
});
