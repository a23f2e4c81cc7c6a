/**
 * Webhooks end to end, as a user sets them up: the built `hodei` controller
 * (with --http) and an agent on PostgreSQL; a bare repository served by
 * `git daemon` over git://, registered with `hodei repos add ... --webhook-
 * secret-file F --poll-interval 0` (so only webhooks start runs); its
 * post-receive hook (a shell script: openssl signs, curl sends) delivers a
 * GitHub-shaped push to /webhooks/github. A real `git push` of a commit adding
 * a job starts that job at the pushed commit, and the run succeeds.
 *
 * The same over smart HTTP: `git http-backend` behind a small CGI shim (a
 * node http server), the hook run by http-backend's receive-pack.
 */
import { execFile, execFileSync, spawn, type ChildProcess } from "node:child_process";
import { promisify } from "node:util";
import { createHmac, randomUUID } from "node:crypto";
import { chmodSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { createServer as createHttpServer, type Server } from "node:http";
import { join } from "node:path";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestDatabase } from "../helpers/db.js";
import { eventually, hodei, hodeiJson, startAgent, startController, tempDir, type ControllerProc, type Proc } from "../helpers/procs.js";

const SECRET = "e2e-webhook-secret";
let db: Awaited<ReturnType<typeof createTestDatabase>>;
let controller: ControllerProc;
let agent: Proc;
let daemon: ChildProcess;
let httpGit: Server | undefined;
let client: pg.Client;
let url: string;
const dir = tempDir("hodei-wh-e2e-");
const served = join(dir, "served");
const bare = join(served, "repo.git");
const work = join(dir, "work");
const out = join(dir, "hook");
const secretFile = join(dir, "secret");
const env = (): NodeJS.ProcessEnv => ({ HODEI_CONTROLLER: controller.address });

const git = (cwd: string, ...args: string[]): string =>
  execFileSync("git", ["-c", "user.name=e2e", "-c", "user.email=e2e@example.com", "-c", "init.defaultBranch=main", ...args], { cwd, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] }).trim();

/** git without blocking this process (the smart HTTP server below runs in it). */
const gitAsync = async (cwd: string, ...args: string[]): Promise<string> =>
  (await promisify(execFile)("git", ["-c", "user.name=e2e", "-c", "user.email=e2e@example.com", "-c", "init.defaultBranch=main", ...args], { cwd, encoding: "utf8" })).stdout.trim();

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.on("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

/** The post-receive hook: per updated ref, a GitHub push payload signed with the secret, POSTed with curl (unless `hold` exists). */
function hookScript(httpAddress: string, url: string): string {
  return `#!/bin/sh
set -u
while read old new ref; do
  deleted=false
  [ "$new" = "0000000000000000000000000000000000000000" ] && deleted=true
  body=$(printf '{"ref":"%s","before":"%s","after":"%s","deleted":%s,"created":false,"pusher":{"name":"e2e"},"repository":{"clone_url":"%s","git_url":"%s","html_url":"%s","ssh_url":"git@example.invalid:e2e/repo.git"}}' "$ref" "$old" "$new" "$deleted" "${url}" "${url}" "${url}")
  printf '%s' "$body" > "${out}/body-$new.json"
  [ -e "${out}/hold" ] && continue
  sig=$(printf '%s' "$body" | openssl dgst -sha256 -hmac "$(cat "${secretFile}")" | sed 's/^.*= //')
  delivery=$(cat /proc/sys/kernel/random/uuid)
  code=$(curl -sS -o "${out}/answer-$new.json" -w '%{http_code}' -H 'content-type: application/json' -H 'x-github-event: push' -H "x-github-delivery: $delivery" -H "x-hub-signature-256: sha256=$sig" --data-binary "$body" "http://${httpAddress}/webhooks/github")
  printf '%s %s %s\\n' "$code" "$delivery" "$new" >> "${out}/codes"
done
`;
}

const answer = (sha: string): Record<string, unknown> => JSON.parse(readFileSync(join(out, `answer-${sha}.json`), "utf8")) as Record<string, unknown>;
const runsOf = async (job: string): Promise<{ id: string; state: string }[]> =>
  (await hodeiJson<{ runs: { id: string; state: string }[] }>(["runs", "ls", "--job", job, "--limit", "100"], { env: env() })).runs;
/** The hook's answer: 200 with what started, or (on a slow machine) 202 while the work goes on. */
function startedOrAccepted(sha: string, job: string): void {
  const a = answer(sha);
  if (a.accepted === true) expect(a).toMatchObject({ repo: "repo", event: "push" });
  else expect(a).toMatchObject({ repo: "repo", event: "push", started: [{ job }] });
}
/** Waits until the delivery's work has ended (its record is no longer "processing"). */
const settled = (delivery: string): Promise<string> =>
  eventually(async () => {
    const r = await client.query<{ outcome: string }>("select outcome from webhook_deliveries where delivery_id = $1 and claim is not null", [delivery]);
    return r.rows[0] && r.rows[0].outcome !== "processing" ? r.rows[0].outcome : undefined;
  }, `delivery ${delivery} settles`, 60_000);
const triggerOf = async (runId: string): Promise<Record<string, unknown>> => (await client.query<{ trigger: Record<string, unknown> }>("select trigger from runs where id = $1", [runId])).rows[0]!.trigger;

function commitJob(name: string, extra = ""): string {
  mkdirSync(join(work, ".hodei"), { recursive: true });
  writeFileSync(join(work, ".hodei", `${name}.yaml`), `apiVersion: hodei.dev/v1\nkind: Job\nmetadata: { name: ${name} }\nspec:\n  run: echo hello from ${name}\n  triggers: { push: { branches: [main] } }\n${extra}`);
  git(work, "add", "-A");
  git(work, "commit", "-q", "-m", `job ${name} ${extra}`);
  return git(work, "rev-parse", "HEAD");
}

beforeAll(async () => {
  db = await createTestDatabase();
  client = new pg.Client({ connectionString: db.url });
  await client.connect();
  controller = await startController({ databaseUrl: db.url }, [], { http: true });
  agent = await startAgent(controller, { name: "wh-agent", slots: 2 });
  mkdirSync(served, { recursive: true });
  mkdirSync(out, { recursive: true });
  writeFileSync(secretFile, SECRET);
  git(served, "init", "-q", "--bare", bare);
  const port = await freePort();
  url = `git://127.0.0.1:${port}/repo.git`;
  daemon = spawn("git", ["daemon", "--reuseaddr", "--listen=127.0.0.1", `--port=${port}`, `--base-path=${served}`, "--export-all", "--enable=receive-pack", served], { stdio: "ignore" });
  await eventually(() => {
    try {
      git(dir, "ls-remote", url);
      return true;
    } catch {
      return undefined;
    }
  }, "git daemon serving");
  git(dir, "clone", "-q", url, work);
  writeFileSync(join(work, "README"), "hello\n");
  git(work, "add", "-A");
  git(work, "commit", "-q", "-m", "first");
  git(work, "push", "-q", "origin", "main");
  const hook = join(bare, "hooks", "post-receive");
  writeFileSync(hook, hookScript(controller.httpAddress!, url));
  chmodSync(hook, 0o755);
  const add = await hodei(["repos", "add", url, "--name", "repo", "--webhook-secret-file", secretFile, "--poll-interval", "0"], { env: env() });
  expect(add.code, add.stderr).toBe(0);
});

afterAll(async () => {
  daemon?.kill();
  await new Promise((r) => (httpGit ? httpGit.close(r) : r(undefined)));
  await agent?.stop();
  await controller?.stop();
  await client?.end();
  await db?.drop();
});

describe("a git push announced by the repository's post-receive hook", () => {
  it("starts the pushed job at the pushed commit, and the run succeeds", async () => {
    const sha = commitJob("hello");
    git(work, "push", "-q", "origin", "main");
    expect(readFileSync(join(out, "codes"), "utf8")).toMatch(/^20[02] /m);
    startedOrAccepted(sha, "hello");
    const run = await eventually(async () => (await runsOf("hello")).find((r) => r.state === "succeeded"), "the run of hello succeeds", 60_000);
    expect(await triggerOf(run.id)).toMatchObject({ event: "push", commit: sha, ref: "refs/heads/main", actor: "e2e", via: "webhook" });
    const logs = await hodei(["logs", run.id], { env: env() });
    expect(logs.stdout.toString()).toContain("hello from hello");
  });

  it("a redelivery of the same delivery id starts nothing", async () => {
    const line = readFileSync(join(out, "codes"), "utf8").trim().split("\n").pop()!;
    const [, delivery, sha] = line.split(" ");
    const body = readFileSync(join(out, `body-${sha}.json`), "utf8");
    const before = (await runsOf("hello")).length;
    const r = await fetch(`http://${controller.httpAddress}/webhooks/github`, {
      method: "POST",
      body,
      headers: { "content-type": "application/json", "x-github-event": "push", "x-github-delivery": delivery!, "x-hub-signature-256": `sha256=${createHmac("sha256", SECRET).update(body).digest("hex")}` },
    });
    expect(r.status).toBe(200);
    expect(await r.json()).toMatchObject({ duplicate: true });
    expect((await runsOf("hello")).length).toBe(before);
  });

  it("a push deleting a branch starts nothing", async () => {
    git(work, "push", "-q", "origin", "main:refs/heads/doomed");
    const before = (await client.query("select count(*)::int as n from runs")).rows[0].n as number;
    git(work, "push", "-q", "origin", ":refs/heads/doomed");
    expect(answer("0".repeat(40))).toMatchObject({ started: [], notes: [expect.stringContaining("deleted")] });
    expect((await client.query("select count(*)::int as n from runs")).rows[0].n).toBe(before);
  });

  it("a commit seen by a sync (poll) and by its webhook runs once", async () => {
    // The hook holds its delivery: the sync sees the push first, then the webhook arrives.
    writeFileSync(join(out, "hold"), "");
    const sha = commitJob("hello", "# again\n");
    git(work, "push", "-q", "origin", "main");
    rmSync(join(out, "hold"));
    expect(existsSync(join(out, `answer-${sha}.json`))).toBe(false);
    const sync = await hodei(["repos", "sync", "repo"], { env: env() });
    expect(sync.code, sync.stderr).toBe(0);
    const atCommit = async (): Promise<string[]> => (await client.query<{ id: string }>("select id from runs where trigger->>'commit' = $1", [sha])).rows.map((r) => r.id);
    const byPoll = await eventually(async () => ((await atCommit()).length ? await atCommit() : undefined), "the sync starts the run");
    expect(byPoll.length).toBe(1);
    const body = readFileSync(join(out, `body-${sha}.json`), "utf8");
    const deliveryId = randomUUID();
    const r = await fetch(`http://${controller.httpAddress}/webhooks/github`, {
      method: "POST",
      body,
      headers: { "content-type": "application/json", "x-github-event": "push", "x-github-delivery": deliveryId, "x-hub-signature-256": `sha256=${createHmac("sha256", SECRET).update(body).digest("hex")}` },
    });
    const delivered = (await r.json()) as { started?: { run: string }[]; accepted?: boolean };
    if (r.status === 200) expect(delivered.started!.map((x) => x.run)).toEqual(byPoll);
    else expect({ status: r.status, delivered }).toMatchObject({ status: 202, delivered: { accepted: true } });
    await settled(deliveryId);
    expect(await atCommit()).toEqual(byPoll);
    // And the other way round: the webhook first, then a sync finds nothing new to start.
    const sha2 = commitJob("hello", "# once more\n");
    git(work, "push", "-q", "origin", "main");
    startedOrAccepted(sha2, "hello");
    const line = readFileSync(join(out, "codes"), "utf8").trim().split("\n").pop()!;
    await settled(line.split(" ")[1]!);
    expect((await hodei(["repos", "sync", "repo"], { env: env() })).code).toBe(0);
    expect((await client.query("select count(*)::int as n from runs where trigger->>'commit' = $1", [sha2])).rows[0].n).toBe(1);
  });

  it.runIf(process.env.HODEI_WEBHOOK_BENCH)("time from git push to run start, 20 pushes (printed, not asserted)", async () => {
    const ms: number[] = [];
    for (let i = 0; i < 20; i++) {
      const sha = commitJob("hello", `# bench ${i}\n`);
      const t0 = Date.now();
      git(work, "push", "-q", "origin", "main");
      const started = await eventually(
        async () => (await client.query<{ t: Date | null }>("select started_at as t from runs where trigger->>'commit' = $1 and started_at is not null", [sha])).rows[0]?.t ?? undefined,
        "run started",
        60_000,
      );
      ms.push(started.getTime() - t0);
    }
    ms.sort((a, b) => a - b);
    console.log(`[webhooks] git push → run started over 20 pushes: median ${ms[10]} ms, max ${ms[19]} ms (${ms.join(", ")})`);
  }, 600_000);
});

/** `git http-backend` as CGI behind a node http server: smart HTTP for every repository under `root`. */
function serveSmartHttp(root: string): Promise<{ server: Server; port: number }> {
  const server = createHttpServer((req, res) => {
    const u = new URL(req.url ?? "/", "http://x");
    const cgi = spawn("git", ["http-backend"], {
      env: {
        ...process.env,
        GIT_PROJECT_ROOT: root,
        GIT_HTTP_EXPORT_ALL: "1",
        PATH_INFO: decodeURIComponent(u.pathname),
        QUERY_STRING: u.search.slice(1),
        REQUEST_METHOD: req.method ?? "GET",
        CONTENT_TYPE: req.headers["content-type"] ?? "",
        REMOTE_ADDR: "127.0.0.1",
        REMOTE_USER: "e2e",
        ...(req.headers["content-encoding"] ? { HTTP_CONTENT_ENCODING: String(req.headers["content-encoding"]) } : {}),
        ...(req.headers["git-protocol"] ? { GIT_PROTOCOL: String(req.headers["git-protocol"]) } : {}),
      },
      stdio: ["pipe", "pipe", "ignore"],
    });
    req.pipe(cgi.stdin);
    let head = Buffer.alloc(0);
    let started = false;
    cgi.stdout.on("data", (c: Buffer) => {
      if (started) return void res.write(c);
      head = Buffer.concat([head, c]);
      const end = head.indexOf("\r\n\r\n");
      if (end < 0) return;
      started = true;
      let status = 200;
      for (const line of head.subarray(0, end).toString().split("\r\n")) {
        const i = line.indexOf(":");
        const [k, v] = [line.slice(0, i).trim(), line.slice(i + 1).trim()];
        if (k.toLowerCase() === "status") status = Number(v.split(" ")[0]);
        else res.setHeader(k, v);
      }
      res.writeHead(status);
      res.write(head.subarray(end + 4));
    });
    cgi.on("close", () => res.end());
  });
  return new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve({ server, port: (server.address() as { port: number }).port })));
}

describe("the same over smart HTTP (git http-backend)", () => {
  it("a git push over http:// whose hook delivers the push starts the job at the pushed commit", async () => {
    const web = join(served, "web.git");
    git(served, "init", "-q", "--bare", web);
    git(web, "config", "http.receivepack", "true");
    const { server, port } = await serveSmartHttp(served);
    httpGit = server;
    const webUrl = `http://127.0.0.1:${port}/web.git`;
    const webWork = join(dir, "web-work");
    await gitAsync(dir, "clone", "-q", webUrl, webWork);
    writeFileSync(join(webWork, "README"), "web\n");
    git(webWork, "add", "-A");
    git(webWork, "commit", "-q", "-m", "first");
    await gitAsync(webWork, "push", "-q", "origin", "main");
    const hook = join(web, "hooks", "post-receive");
    writeFileSync(hook, hookScript(controller.httpAddress!, webUrl));
    chmodSync(hook, 0o755);
    const add = await hodei(["repos", "add", webUrl, "--name", "web", "--webhook-secret-file", secretFile, "--poll-interval", "0"], { env: env() });
    expect(add.code, add.stderr).toBe(0);

    mkdirSync(join(webWork, ".hodei"), { recursive: true });
    writeFileSync(join(webWork, ".hodei", "webjob.yaml"), "apiVersion: hodei.dev/v1\nkind: Job\nmetadata: { name: webjob }\nspec:\n  run: echo hello over http\n  triggers: { push: { branches: [main] } }\n");
    git(webWork, "add", "-A");
    git(webWork, "commit", "-q", "-m", "web job");
    const sha = git(webWork, "rev-parse", "HEAD");
    await gitAsync(webWork, "push", "-q", "origin", "main");
    const a = answer(sha);
    if (a.accepted !== true) expect(a).toMatchObject({ repo: "web", started: [{ job: "webjob" }] });
    const run = await eventually(async () => (await runsOf("webjob")).find((r) => r.state === "succeeded"), "the run of webjob succeeds", 60_000);
    expect(await triggerOf(run.id)).toMatchObject({ event: "push", commit: sha, repo: "web", via: "webhook" });
  });
});
