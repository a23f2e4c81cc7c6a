/**
 * Webhooks on the controller's HTTP listener (docs/gitops.md):
 *
 *   POST /webhooks/github[/NAME]   X-Hub-Signature-256 (HMAC-SHA256 of the raw body); push, pull_request, ping
 *   POST /webhooks/gitlab[/NAME]   X-Gitlab-Token; Push Hook, Tag Push Hook, Merge Request Hook
 *   POST /webhooks/generic[/NAME]  a small documented JSON body, signed the GitHub way; push, ping
 *
 * Without NAME, a delivery goes to every registered repo whose URL matches one
 * of the payload's repository URLs (normalizeRepoUrl). Each repo checks the
 * signature with its own secret (a repo without one refuses webhooks).
 *
 * Every request is recorded (store/webhooks.ts). A verified delivery is
 * claimed once per repo: a redelivery answers 200 {"duplicate": true} and
 * starts nothing. A push syncs the repo, then starts the runs its triggers
 * match (gitops/pushes.ts, exactly once by the runs' idempotency keys, however
 * the push also arrives by poll). The answer waits for that at most
 * `replyWithinMs`; after that it is 202 and the work goes on.
 */
import { createHash, timingSafeEqual } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Logger } from "pino";
import { verify } from "@octokit/webhooks-methods";
import type { PullRequestEvent, PushEvent } from "@octokit/webhooks-types";
import type { Store } from "../store/db.js";
import type { RepoRow } from "../store/schema.js";
import { getRepoByName, listRepos } from "../store/repos.js";
import { claimDelivery, finishDelivery, recordDelivery } from "../store/webhooks.js";
import { replyJson, type HttpRoute } from "../http.js";
import { normalizeRepoUrl } from "./urls.js";
import { isZeroSha } from "./match.js";
import { ZERO_COMMIT } from "./mirror.js";
import { startPullRequestRuns, startPushRuns, type PullRequest, type Push, type PushOutcome } from "./pushes.js";
import type { Syncer } from "./sync.js";

export const MAX_BODY_BYTES = 5 * 1024 * 1024;
export const REPLY_WITHIN_MS = 4_000;

export interface WebhookDeps {
  store: Store;
  syncer: Syncer;
  log: Logger;
  maxBodyBytes?: number;
  /** How long the answer waits for the sync and the runs' start before it says 202. */
  replyWithinMs?: number;
  /** Told what a push delivered here started and skipped (commit statuses for skipped jobs, gitops/status.ts). */
  onPushOutcome?: (repo: RepoRow, p: Push, o: PushOutcome) => void;
  /** Told of every refused delivery (status 400 and up): the audit log (controller/auth/audit.ts). */
  onRejected?: (r: Parameters<typeof recordDelivery>[1]) => void | Promise<void>;
}

type Provider = "github" | "gitlab" | "generic";
const PROVIDERS: readonly Provider[] = ["github", "gitlab", "generic"];
const REPO_NAME = /^[a-z0-9][a-z0-9._-]{0,62}$/;
const SHA = /^[0-9a-f]{40}$/;

/** What a delivery asks for, whatever its provider. */
type Intent =
  | { kind: "ping" }
  | { kind: "push"; ref: string; before: string; after: string; deleted: boolean; actor?: string }
  | { kind: "pull_request"; pr: Omit<PullRequest, "deliveryId"> }
  | { kind: "ignored"; why: string };

/** A client's mistake: answered with `status` and `error`, recorded. */
class Refusal extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly extra: Record<string, unknown> = {},
  ) {
    super(message);
  }
}

const header = (req: IncomingMessage, name: string): string | undefined => {
  const v = req.headers[name];
  return typeof v === "string" ? v : Array.isArray(v) ? v[0] : undefined;
};
const obj = (x: unknown): Record<string, unknown> | undefined => (x !== null && typeof x === "object" && !Array.isArray(x) ? (x as Record<string, unknown>) : undefined);
const str = (x: unknown): string | undefined => (typeof x === "string" && x.length > 0 && x.length <= 2000 ? x : undefined);

/** Reads at most `max` bytes of the body; "too large" (having stopped reading) beyond that. */
function readBody(req: IncomingMessage, max: number): Promise<Buffer | "too large"> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let n = 0;
    let done = false;
    req.on("data", (c: Buffer) => {
      if (done) return;
      n += c.length;
      if (n > max) {
        done = true;
        req.pause();
        resolve("too large");
        return;
      }
      chunks.push(c);
    });
    req.on("end", () => {
      if (done) return;
      done = true;
      resolve(Buffer.concat(chunks));
    });
    req.on("error", (err) => {
      if (done) return;
      done = true;
      reject(err);
    });
    req.on("close", () => {
      if (done) return;
      done = true;
      reject(new Error("the request was aborted"));
    });
  });
}

/** The URLs a payload gives for its repository. */
function payloadUrls(provider: Provider, body: Record<string, unknown>): string[] {
  const pick = (o: Record<string, unknown> | undefined, keys: string[]): string[] => (o ? keys.map((k) => str(o[k])).filter((u): u is string => u !== undefined) : []);
  if (provider === "github") return pick(obj(body.repository), ["clone_url", "ssh_url", "git_url", "html_url"]);
  if (provider === "gitlab") {
    return [...pick(obj(body.project), ["git_http_url", "git_ssh_url", "web_url", "http_url", "ssh_url"]), ...pick(obj(body.repository), ["url", "homepage", "git_http_url", "git_ssh_url"])];
  }
  return pick(obj(body.repository), ["url", "clone_url"]);
}

/** The repo's secret checks the request: undefined when it does, else why not. */
async function signatureProblem(provider: Provider, repo: RepoRow, req: IncomingMessage, raw: Buffer): Promise<string | undefined> {
  const secret = repo.webhook_secret;
  if (!secret) return `repository ${repo.name} has no webhook secret, so its webhooks are refused: register it with --webhook-secret-file`;
  if (provider === "gitlab") {
    const token = header(req, "x-gitlab-token");
    if (!token) return "missing X-Gitlab-Token header: set the webhook's secret token to the repository's webhook secret";
    const a = createHash("sha256").update(token).digest();
    const b = createHash("sha256").update(secret).digest();
    return timingSafeEqual(a, b) ? undefined : `X-Gitlab-Token does not match repository ${repo.name}'s webhook secret`;
  }
  const sig = header(req, "x-hub-signature-256");
  if (!sig) return "missing X-Hub-Signature-256 header: set the webhook's secret to the repository's webhook secret";
  let ok: boolean;
  try {
    ok = raw.length > 0 && (await verify(secret, raw.toString("utf8"), sig));
  } catch {
    ok = false; // verify throws on an empty signature or body
  }
  return ok ? undefined : `X-Hub-Signature-256 does not match the body signed with repository ${repo.name}'s webhook secret`;
}

const shaOf = (x: unknown, what: string): string => {
  const s = str(x)?.toLowerCase();
  if (!s || !SHA.test(s)) throw new Refusal(400, `${what} must be a 40-character commit sha`);
  return s;
};
const refOf = (x: unknown): string => {
  const r = str(x);
  if (!r || !/^refs\/(heads|tags)\/./.test(r) || r.length > 1000) throw new Refusal(400, "ref must be refs/heads/NAME or refs/tags/NAME");
  return r;
};

function githubIntent(event: string, body: Record<string, unknown>): Intent {
  if (event === "ping") return { kind: "ping" };
  if (event === "push") {
    const p = body as unknown as PushEvent;
    const after = shaOf(p.after, "after");
    return { kind: "push", ref: refOf(p.ref), before: str(p.before) ? shaOf(p.before, "before") : ZERO_COMMIT, after, deleted: p.deleted === true || isZeroSha(after), actor: str(obj(p.pusher)?.name) ?? str(obj(p.sender)?.login) };
  }
  if (event === "pull_request") {
    const e = body as unknown as PullRequestEvent;
    const pr = obj(e.pull_request);
    const head = obj(pr?.head);
    const base = obj(pr?.base);
    const n = typeof e.number === "number" ? e.number : Number(pr?.number);
    if (!pr || !head || !base || !Number.isInteger(n) || n <= 0 || !str(e.action)) throw new Refusal(400, "a pull_request payload needs action, number, pull_request.head and pull_request.base");
    const headRepo = obj(head.repo);
    const baseRepo = obj(base.repo);
    return {
      kind: "pull_request",
      pr: {
        number: n,
        action: e.action,
        ref: `refs/pull/${n}/head`,
        head: shaOf(head.sha, "pull_request.head.sha"),
        headBranch: str(head.ref),
        base: str(base.ref) ?? "",
        baseCommit: str(base.sha),
        fork: !headRepo || !baseRepo || headRepo.id !== baseRepo.id,
        actor: str(obj(e.sender)?.login),
      },
    };
  }
  return { kind: "ignored", why: `GitHub event "${event.slice(0, 100)}" is not one Hodei acts on (push, pull_request, ping)` };
}

/** GitLab's merge request actions, as GitHub's pull_request activity types. */
const GITLAB_ACTIONS: Record<string, string> = { open: "opened", reopen: "reopened", close: "closed", merge: "closed", approved: "approved", unapproved: "unapproved" };

function gitlabIntent(event: string, body: Record<string, unknown>): Intent {
  const kind = str(body.object_kind) ?? "";
  if (event === "Push Hook" || event === "Tag Push Hook" || kind === "push" || kind === "tag_push") {
    const after = shaOf(body.after, "after");
    return { kind: "push", ref: refOf(body.ref), before: str(body.before) ? shaOf(body.before, "before") : ZERO_COMMIT, after, deleted: isZeroSha(after), actor: str(body.user_username) ?? str(body.user_name) };
  }
  if (event === "Merge Request Hook" || kind === "merge_request") {
    const a = obj(body.object_attributes);
    const iid = Number(a?.iid);
    if (!a || !Number.isInteger(iid) || iid <= 0) throw new Refusal(400, "a merge request payload needs object_attributes.iid");
    const last = obj(a.last_commit);
    const action = str(a.action) ?? "";
    // "update" is a new head only when oldrev says the commits changed.
    const mapped = action === "update" ? (str(a.oldrev) ? "synchronize" : "edited") : (GITLAB_ACTIONS[action] ?? action);
    return {
      kind: "pull_request",
      pr: {
        number: iid,
        action: mapped,
        ref: `refs/merge-requests/${iid}/head`,
        head: shaOf(last?.id, "object_attributes.last_commit.id"),
        headBranch: str(a.source_branch),
        base: str(a.target_branch) ?? "",
        fork: a.source_project_id !== a.target_project_id,
        actor: str(obj(body.user)?.username),
      },
    };
  }
  return { kind: "ignored", why: `GitLab event "${(event || kind).slice(0, 100)}" is not one Hodei acts on (Push Hook, Tag Push Hook, Merge Request Hook)` };
}

function genericIntent(event: string, body: Record<string, unknown>): Intent {
  if (event === "ping") return { kind: "ping" };
  if (event === "push") {
    const after = shaOf(body.after, "after");
    return { kind: "push", ref: refOf(body.ref), before: str(body.before) ? shaOf(body.before, "before") : ZERO_COMMIT, after, deleted: body.deleted === true || isZeroSha(after), actor: str(body.actor) };
  }
  return { kind: "ignored", why: `event "${event.slice(0, 100)}" is not one Hodei acts on (push, ping)` };
}

interface RepoResult {
  repo: string;
  started: { job: string; run: string }[];
  skipped: { job: string; reason: string }[];
  note?: string;
}

export function webhookRoute(deps: WebhookDeps): HttpRoute {
  const maxBody = deps.maxBodyBytes ?? MAX_BODY_BYTES;
  const within = deps.replyWithinMs ?? REPLY_WITHIN_MS;
  const { store, syncer, log } = deps;
  const db = store.db;

  const record = async (r: Parameters<typeof recordDelivery>[1]): Promise<void> => {
    if (r.status >= 400) await deps.onRejected?.(r);
    await recordDelivery(db, r).catch((err: unknown) => log.warn({ err: (err as Error).message }, "could not record a webhook delivery"));
  };

  const work = async (repo: RepoRow, intent: Intent, deliveryId: string): Promise<RepoResult> => {
    const result = (o: PushOutcome, note?: string): RepoResult => ({
      repo: repo.name,
      started: o.runs.map((r) => ({ job: r.job_name, run: r.id })),
      skipped: o.decisions.filter((d) => !d.run).map((d) => ({ job: d.job, reason: d.reason })),
      ...(note ? { note } : {}),
    });
    const none: PushOutcome = { runs: [], skippedByPaths: [], decisions: [] };
    if (intent.kind === "push") {
      if (intent.deleted) return result(none, `${intent.ref} was deleted: deletions start nothing`);
      await syncer.sync(repo, "webhook", [{ ref: intent.ref, after: intent.after, deliveryId, actor: intent.actor }]);
      const mirror = await syncer.mirror(repo);
      // An annotated tag's push names the tag object: its commit is what runs (and what a sync records).
      const after = await mirror.commitOf(intent.after);
      if (!after) return result(none, `commit ${intent.after} is not in the repository after a sync (pushed over already?): nothing started`);
      // The sync started the runs of the refs it saw move; this covers a push it did not see as one (already synced by a poll, or the repo's first sync).
      const push: Push = { ref: intent.ref, before: intent.before, after, via: "webhook", deliveryId, actor: intent.actor };
      const o = await startPushRuns(store, repo, mirror, push, log);
      deps.onPushOutcome?.(repo, push, o);
      return result(o);
    }
    if (intent.kind === "pull_request") {
      await syncer.sync(repo, "webhook");
      const mirror = await syncer.mirror(repo);
      if (!(await mirror.fetchPullHead(intent.pr.ref, intent.pr.head))) throw new Error(`cannot fetch ${intent.pr.ref} (${intent.pr.head}) from the repository`);
      return result(await startPullRequestRuns(store, repo, mirror, { ...intent.pr, deliveryId }, log));
    }
    return result(none);
  };

  const handle = async (req: IncomingMessage, res: ServerResponse, provider: Provider, name: string | undefined): Promise<void> => {
    const event = (provider === "github" ? header(req, "x-github-event") : provider === "gitlab" ? header(req, "x-gitlab-event") : header(req, "x-hodei-event")) ?? "";
    let deliveryId = (provider === "github" ? header(req, "x-github-delivery") : provider === "gitlab" ? (header(req, "x-gitlab-event-uuid") ?? header(req, "idempotency-key")) : header(req, "x-hodei-delivery")) ?? "";
    let eventName = event || "-";
    let repoIds: (string | undefined)[] = [undefined];
    const refuse = async (r: Refusal): Promise<void> => {
      for (const repoId of repoIds) await record({ provider, deliveryId: deliveryId || "-", repoId, event: eventName, status: r.status, outcome: r.message });
      log.info({ provider, event: eventName, delivery: deliveryId, status: r.status, why: r.message }, "webhook refused");
      replyJson(res, r.status, { error: r.message, ...r.extra }, r.status === 405 ? { connection: "close", allow: "POST" } : {});
      if (r.status === 413) {
        // Discard (never buffer) what the client still sends, so it reads the
        // answer rather than a reset; a client that keeps sending is cut off.
        req.removeAllListeners("data");
        req.resume();
        const cut = setTimeout(() => req.destroy(), 5_000);
        req.once("close", () => clearTimeout(cut));
      }
    };
    try {
      if (req.method !== "POST") throw new Refusal(405, `webhooks are POST requests, not ${String(req.method).slice(0, 20)}`);
      const type = (header(req, "content-type") ?? "").split(";")[0]!.trim().toLowerCase();
      if (type !== "application/json" && !/^application\/[a-z0-9.+-]+\+json$/.test(type)) {
        throw new Refusal(415, `the body must be JSON (Content-Type: application/json), not "${type.slice(0, 100) || "none"}"; on GitHub, set the webhook's content type to application/json`);
      }
      const declared = Number(header(req, "content-length") ?? "0");
      if (declared > maxBody) throw new Refusal(413, `the body is ${declared} bytes; the limit is ${maxBody}`);
      const raw = await readBody(req, maxBody);
      if (raw === "too large") throw new Refusal(413, `the body is over the limit of ${maxBody} bytes`);
      if (!deliveryId) deliveryId = `sha256:${createHash("sha256").update(raw).digest("hex")}`;

      let body: Record<string, unknown> | undefined;
      const parse = (): Record<string, unknown> => {
        if (body) return body;
        let v: unknown;
        try {
          v = JSON.parse(raw.toString("utf8"));
        } catch (err) {
          throw new Refusal(400, `the body is not valid JSON: ${(err as Error).message.slice(0, 200)}`);
        }
        const o = obj(v);
        if (!o) throw new Refusal(400, "the body must be a JSON object");
        return (body = o);
      };

      // Which repos: the one named in the path, or those whose URL the payload gives.
      let candidates: RepoRow[];
      if (name !== undefined) {
        const r = REPO_NAME.test(name) ? await getRepoByName(db, name) : undefined;
        if (!r) throw new Refusal(404, `no repository named "${name.slice(0, 100)}" is registered with this Hodei controller (hodei repos ls)`);
        candidates = [r];
      } else {
        const urls = payloadUrls(provider, parse());
        if (urls.length === 0) {
          throw new Refusal(404, `the payload names no repository URL; send it to /webhooks/${provider}/NAME, where NAME is the repository's name in Hodei`);
        }
        const wanted = new Set(urls.map(normalizeRepoUrl));
        candidates = (await listRepos(db)).filter((r) => wanted.has(normalizeRepoUrl(r.url)));
        if (candidates.length === 0) {
          throw new Refusal(404, `no registered repository has the URL ${urls[0]!.slice(0, 300)} (compared without scheme, .git or trailing slash); register it with hodei repos add, or send to /webhooks/${provider}/NAME`, { urls: urls.slice(0, 8) });
        }
      }
      repoIds = candidates.map((c) => c.id);

      const verified: RepoRow[] = [];
      const problems: string[] = [];
      for (const c of candidates) {
        const p = await signatureProblem(provider, c, req, raw);
        if (p === undefined) verified.push(c);
        else problems.push(p);
      }
      if (verified.length === 0) throw new Refusal(401, problems.join("; "));
      // Repos that refused it are recorded; the others go on.
      for (const c of candidates) {
        if (!verified.includes(c)) await record({ provider, deliveryId, repoId: c.id, event: eventName, status: 401, outcome: "signature does not match this repository's secret" });
      }
      repoIds = verified.map((v) => v.id);

      const b = parse();
      if (provider === "generic") eventName = str(b.event) ?? (event || "-");
      const intent = provider === "github" ? githubIntent(event, b) : provider === "gitlab" ? gitlabIntent(event, b) : genericIntent(eventName, b);
      const names = verified.map((v) => v.name);
      const repoField = names.length === 1 ? { repo: names[0] } : { repos: names };

      if (intent.kind === "ping") {
        for (const v of verified) await record({ provider, deliveryId, repoId: v.id, event: eventName, status: 200, outcome: "ping" });
        replyJson(res, 200, { pong: true, delivery: deliveryId, ...repoField });
        return;
      }
      if (intent.kind === "ignored") {
        for (const v of verified) await record({ provider, deliveryId, repoId: v.id, event: eventName, status: 202, outcome: intent.why });
        replyJson(res, 202, { ignored: true, event: eventName, reason: intent.why, delivery: deliveryId, ...repoField });
        return;
      }

      // Claim per repo: a repo that had this delivery already starts nothing.
      const claims: { repo: RepoRow; id: string }[] = [];
      for (const v of verified) {
        const id = await claimDelivery(db, { provider, deliveryId, repoId: v.id, event: eventName, status: 202, outcome: "processing" });
        if (id === undefined) await record({ provider, deliveryId, repoId: v.id, event: eventName, status: 200, outcome: "duplicate delivery: nothing started" });
        else claims.push({ repo: v, id });
      }
      if (claims.length === 0) {
        replyJson(res, 200, { duplicate: true, delivery: deliveryId, event: eventName, ...repoField, started: [], skipped: [] });
        return;
      }

      let answered: number | undefined;
      const jobs = claims.map(async (c) => {
        try {
          const r = await work(c.repo, intent, deliveryId);
          const text = r.note ?? (r.started.length ? `started ${r.started.map((s) => `${s.job} (run ${s.run})`).join(", ")}` : "nothing started");
          await finishDelivery(db, c.id, answered ?? 200, text.slice(0, 1000)).catch(() => {});
          return { ok: true as const, r };
        } catch (err) {
          const message = err instanceof Error ? err.message : String(err);
          log.warn({ provider, event: eventName, delivery: deliveryId, repo: c.repo.name, error: message }, "webhook work failed");
          // Give the claim up: a redelivery may try again.
          await finishDelivery(db, c.id, answered ?? 500, `failed: ${message}`, true).catch(() => {});
          return { ok: false as const, repo: c.repo.name, error: message };
        }
      });
      const all = Promise.all(jobs);
      let timer: NodeJS.Timeout | undefined;
      const done = await Promise.race([all, new Promise<undefined>((r) => (timer = setTimeout(() => r(undefined), within)))]);
      clearTimeout(timer);
      if (done === undefined) {
        answered = 202;
        replyJson(res, 202, { accepted: true, delivery: deliveryId, event: eventName, ...repoField, note: "still working: see hodei runs ls" });
        void all.then(() => log.info({ provider, event: eventName, delivery: deliveryId }, "webhook work done after the answer"));
        return;
      }
      const ok = done.filter((d) => d.ok).map((d) => d.r);
      const failed = done.filter((d) => !d.ok);
      const multi = names.length > 1;
      replyJson(res, failed.length === done.length ? 500 : 200, {
        delivery: deliveryId,
        event: eventName,
        ...repoField,
        started: ok.flatMap((r) => r.started.map((s) => (multi ? { repo: r.repo, ...s } : s))),
        skipped: ok.flatMap((r) => r.skipped.map((s) => (multi ? { repo: r.repo, ...s } : s))),
        ...(ok.some((r) => r.note) ? { notes: ok.filter((r) => r.note).map((r) => r.note) } : {}),
        ...(failed.length ? { errors: failed.map((f) => `${f.repo}: ${f.error}`) } : {}),
      });
    } catch (err) {
      if (err instanceof Refusal) return refuse(err);
      if (err instanceof Error && err.message === "the request was aborted") return;
      throw err;
    }
  };

  return {
    paths: PROVIDERS.map((p) => `/webhooks/${p}`),
    handle(req, res, path) {
      if (path !== "/webhooks" && !path.startsWith("/webhooks/")) return false;
      const parts = path.split("/").filter(Boolean);
      const provider = parts[1] as Provider | undefined;
      if (!provider || !PROVIDERS.includes(provider) || parts.length > 3) {
        replyJson(res, 404, { error: `no such webhook endpoint; use ${PROVIDERS.map((p) => `/webhooks/${p}`).join(", ")} (optionally /NAME)` });
        return true;
      }
      return handle(req, res, provider, parts[2]).then(() => true);
    },
  };
}
