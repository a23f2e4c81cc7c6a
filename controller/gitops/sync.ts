/**
 * Syncing a repository: fetch its mirror, read the definitions at every new
 * commit a branch or tag now points at, and report which refs moved since the
 * last sync (the pushes a poll finds; a webhook's push is one of them).
 *
 * One sync per repo at a time: in this process, a request while one runs is
 * folded into one more sync after it; across controllers, the repo's lease in
 * the database (store/repos.ts takeSyncLease).
 */
import { join } from "node:path";
import { createHash, randomUUID } from "node:crypto";
import type { Logger } from "pino";
import type { Db } from "../store/db.js";
import type { RepoRow } from "../store/schema.js";
import { commitErrors, getRefs, hasCommit, putCommit, recordSync, releaseSyncLease, setRefs, takeSyncLease, type Definition } from "../store/repos.js";
import { formatSpecError, loadTexts, MAX_FILE_BYTES } from "../../schemas/load.js";
import { Mirror, MirrorError, ZERO_COMMIT } from "./mirror.js";

/** A ref that moved between two syncs. `after` is ZERO_COMMIT when it was deleted. */
export interface RefChange {
  ref: string;
  before: string;
  after: string;
}

export interface SyncResult {
  /** The head commit of the repo's tracked branch (undefined: the branch does not exist). */
  head?: string;
  /** Validation errors at the head, FILE:LINE:COL: message. */
  errors: string[];
  /** Refs that moved since the last sync; empty on a repo's first sync (it only records where refs are). */
  changes: RefChange[];
  durationMs: number;
}

/** What a webhook said about a push, for the sync that finds it. */
export interface PushHint {
  ref: string;
  after: string;
  deliveryId?: string;
  actor?: string;
}

export type SyncVia = "add" | "poll" | "webhook" | "manual" | "config";

/** How long a sync may hold its repo's lease before another controller may take over. */
const LEASE_MS = 10 * 60_000;
/** How long a sync waits for another controller's sync of the same repo. */
const LEASE_WAIT_MS = 2 * 60_000;

export class SyncError extends Error {
  override name = "SyncError";
}

/** Only platform repos may define policies and providers (docs/gitops.md). */
const PLATFORM_KINDS = new Set(["Policy", "Provider"]);

/**
 * The definitions at one commit: valid jobs, and every error as
 * FILE:LINE:COL: message. An invalid document never hides the valid ones
 * beside it.
 */
export async function readCommit(mirror: Mirror, repo: Pick<RepoRow, "path" | "platform">, commit: string): Promise<{ defs: Definition[]; errors: string[] }> {
  const files = await mirror.readYaml(commit, repo.path, MAX_FILE_BYTES);
  const result = loadTexts(files);
  const errors = result.errors.map(formatSpecError);
  const defs: Definition[] = [];
  for (const d of result.documents) {
    if (PLATFORM_KINDS.has(d.kind) && !repo.platform) {
      errors.push(`${d.file}:${d.line}:1: kind ${d.kind} is accepted only from platform repositories (hodei repos add --platform); ${d.kind} "${d.name}" is ignored`);
      continue;
    }
    if (d.kind === "Job") defs.push({ name: d.name, file: d.file, job: d.doc });
  }
  return { defs, errors };
}

export class Syncer {
  private readonly running = new Map<string, { done: Promise<SyncResult>; again?: Promise<SyncResult> }>();
  private readonly owner = randomUUID();

  constructor(
    private readonly db: Db,
    private readonly mirrorsDir: string,
    private readonly log: Logger,
    /**
     * Told of the refs that moved, under the repo's lease, before they are
     * recorded (gitops/pushes.ts), with what the callers that asked for this
     * sync knew about them (a webhook's delivery id and pusher).
     */
    private readonly onChanges?: (repo: RepoRow, changes: RefChange[], mirror: Mirror, hints: readonly PushHint[]) => Promise<void>,
  ) {}

  private readonly synced = new Set<(repo: RepoRow, r: SyncResult) => void>();

  /** Calls `fn` after every successful sync (the scheduler re-reads the jobs); returns the unsubscribe. */
  onSynced(fn: (repo: RepoRow, r: SyncResult) => void): () => void {
    this.synced.add(fn);
    return () => void this.synced.delete(fn);
  }

  /** Hints given to sync() calls whose sync has not started yet, per repo. */
  private readonly hints = new Map<string, PushHint[]>();

  /** Keyed by the URL, not the repo's id: controllers on different databases may share a mirror folder. */
  mirrorDir(repo: Pick<RepoRow, "url">): string {
    return join(this.mirrorsDir, `${createHash("sha256").update(repo.url).digest("hex").slice(0, 24)}.git`);
  }

  async mirror(repo: RepoRow): Promise<Mirror> {
    return Mirror.open(this.mirrorDir(repo), { url: repo.url, token: repo.token });
  }

  /**
   * Syncs `repo`. A call while a sync of it runs waits for that one and then
   * for one more (which sees whatever the caller came to announce); calls
   * meanwhile share that second sync.
   */
  sync(repo: RepoRow, via: SyncVia, hints: readonly PushHint[] = []): Promise<SyncResult> {
    if (hints.length) this.hints.set(repo.id, [...(this.hints.get(repo.id) ?? []), ...hints]);
    const cur = this.running.get(repo.id);
    if (!cur) {
      const done = this.syncNow(repo, via).finally(() => {
        const c = this.running.get(repo.id);
        if (c?.done === done) {
          if (c.again) this.running.set(repo.id, { done: c.again });
          else this.running.delete(repo.id);
        }
      });
      this.running.set(repo.id, { done });
      return done;
    }
    if (!cur.again) {
      const again = cur.done
        .catch(() => undefined)
        .then(() => this.syncNow(repo, via))
        .finally(() => {
          const c = this.running.get(repo.id);
          if (c?.done === again) this.running.delete(repo.id);
        });
      cur.again = again;
    }
    return cur.again;
  }

  private async syncNow(repo: RepoRow, via: SyncVia): Promise<SyncResult> {
    const startedAt = new Date();
    const t0 = performance.now();
    const hints = this.hints.get(repo.id) ?? [];
    this.hints.delete(repo.id);
    await this.lease(repo);
    try {
      const r = await this.fetchAndRead(repo, hints);
      const durationMs = performance.now() - t0;
      await recordSync(this.db, repo.id, { startedAt, durationMs, via, commit: r.head });
      this.log.info({ repo: repo.name, via, head: r.head, changes: r.changes.length, errors: r.errors.length, ms: Math.round(durationMs) }, "repo synced");
      const result = { ...r, durationMs };
      for (const fn of this.synced) {
        try {
          fn(repo, result);
        } catch (err) {
          this.log.warn({ err, repo: repo.name }, "a sync listener failed");
        }
      }
      return result;
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      await recordSync(this.db, repo.id, { startedAt, durationMs: performance.now() - t0, via, error: message }).catch(() => {});
      this.log.warn({ repo: repo.name, via, error: message }, "repo sync failed");
      throw err instanceof MirrorError ? new SyncError(message) : err;
    } finally {
      await releaseSyncLease(this.db, repo.id, this.owner).catch(() => {});
    }
  }

  private async lease(repo: RepoRow): Promise<void> {
    const until = Date.now() + LEASE_WAIT_MS;
    for (let wait = 50; ; wait = Math.min(wait * 2, 1000)) {
      if (await takeSyncLease(this.db, repo.id, this.owner, LEASE_MS)) return;
      if (Date.now() > until) throw new SyncError(`repository ${repo.name} is being synced by another controller; try again later`);
      await new Promise((r) => setTimeout(r, wait));
    }
  }

  private async fetchAndRead(repo: RepoRow, hints: readonly PushHint[]): Promise<Omit<SyncResult, "durationMs">> {
    const mirror = await this.mirror(repo);
    await mirror.fetch();
    const refs = await mirror.refs();
    const old = await getRefs(this.db, repo.id);
    const head = refs.get(`refs/heads/${repo.branch}`);
    // Read every commit a ref now points at that has not been read: the head's
    // definitions for `jobs ls`, each pushed commit's for its triggers.
    const commits = new Set<string>();
    if (head) commits.add(head);
    const changes: RefChange[] = [];
    if (old.size > 0) {
      for (const [ref, after] of refs) {
        const before = old.get(ref) ?? ZERO_COMMIT;
        if (before !== after) {
          changes.push({ ref, before, after });
          commits.add(after);
        }
      }
      for (const [ref, before] of old) if (!refs.has(ref)) changes.push({ ref, before, after: ZERO_COMMIT });
    }
    for (const c of commits) {
      if (await hasCommit(this.db, repo.id, c)) continue;
      const r = await readCommit(mirror, repo, c);
      await putCommit(this.db, repo.id, c, r.defs, r.errors);
    }
    const errors = head ? ((await commitErrors(this.db, repo.id, head)) ?? []) : [];
    // Act on the changes before recording the new refs: a controller that dies
    // in between finds the same changes on its next sync (and claimPush keeps
    // the ones already acted on from acting twice).
    if (changes.length > 0 && this.onChanges) await this.onChanges(repo, changes, mirror, hints);
    await setRefs(this.db, repo.id, refs);
    return { head, errors, changes };
  }
}
