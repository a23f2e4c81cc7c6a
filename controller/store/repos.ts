/**
 * The SQL of repositories and their definitions (migrations/006_gitops.ts).
 * Rows only: what a sync or a webhook does with them lives in controller/gitops.
 */
import { sql } from "kysely";
import type { Db } from "./db.js";
import type { JobDefinitionRow, RepoRow, RepoSyncRow } from "./schema.js";

export interface NewRepo {
  name: string;
  url: string;
  branch: string;
  path: string;
  platform: boolean;
  webhookSecret?: string;
  token?: string;
  pollIntervalMs: number;
  /** The project of the runs it starts (default "default"); set when added, kept by config updates. */
  project?: string;
}

/** A repo's settings as columns (everything `repos add` or the config file sets but the name). */
const settings = (r: NewRepo) => ({
  url: r.url,
  branch: r.branch,
  path: r.path,
  platform: r.platform,
  webhook_secret: r.webhookSecret ?? null,
  token: r.token ?? null,
  poll_interval_ms: r.pollIntervalMs,
});

/** Inserts a repo; undefined when the name is taken. */
export async function insertRepo(db: Db, r: NewRepo): Promise<RepoRow | undefined> {
  return db
    .insertInto("repos")
    .values({ name: r.name, ...settings(r), ...(r.project ? { project: r.project } : {}) })
    .onConflict((oc) => oc.column("name").doNothing())
    .returningAll()
    .executeTakeFirst();
}

/** Changes a repo's settings (controller config applied at start); its synced state is kept. */
export async function updateRepo(db: Db, id: string, r: NewRepo): Promise<RepoRow | undefined> {
  return db
    .updateTable("repos")
    .set(settings(r))
    .where("id", "=", id)
    .returningAll()
    .executeTakeFirst();
}

export async function listRepos(db: Db): Promise<RepoRow[]> {
  return db.selectFrom("repos").selectAll().orderBy("name").execute();
}

export async function getRepoByName(db: Db, name: string): Promise<RepoRow | undefined> {
  return db.selectFrom("repos").selectAll().where("name", "=", name).executeTakeFirst();
}

export async function getRepo(db: Db, id: string): Promise<RepoRow | undefined> {
  return db.selectFrom("repos").selectAll().where("id", "=", id).executeTakeFirst();
}

/** URL and token of the repos these runs check out (runs.repo_id), by repo id; one query, none when no run has a repo. */
export async function reposForRuns(db: Db, runs: readonly { repo_id: string | null }[]): Promise<Map<string, { url: string; token: string | null }>> {
  const ids = [...new Set(runs.flatMap((r) => (r.repo_id === null ? [] : [String(r.repo_id)])))];
  if (ids.length === 0) return new Map();
  const rows = await db.selectFrom("repos").select(["id", "url", "token"]).where("id", "in", ids).execute();
  return new Map(rows.map((r) => [String(r.id), { url: r.url, token: r.token }]));
}

/** Deletes a repo with its refs, definitions and history; its runs stay (repo_id set null). */
export async function deleteRepo(db: Db, name: string): Promise<RepoRow | undefined> {
  return db.deleteFrom("repos").where("name", "=", name).returningAll().executeTakeFirst();
}

/**
 * Takes the repo's sync lease for `ms` if no one else holds it (or theirs has
 * expired): two syncs of one repo never run at once, also across controllers.
 */
export async function takeSyncLease(db: Db, repoId: string, owner: string, ms: number): Promise<boolean> {
  const r = await sql<{ id: string }>`
    update repos set sync_lease_owner = ${owner}, sync_lease_until = now() + make_interval(secs => ${ms / 1000})
    where id = ${repoId} and (sync_lease_until is null or sync_lease_until < now() or sync_lease_owner = ${owner})
    returning id`.execute(db);
  return r.rows.length === 1;
}

export async function releaseSyncLease(db: Db, repoId: string, owner: string): Promise<void> {
  await db.updateTable("repos").set({ sync_lease_owner: null, sync_lease_until: null }).where("id", "=", repoId).where("sync_lease_owner", "=", owner).execute();
}

/** The commit each ref pointed at after the last sync. */
export async function getRefs(db: Db, repoId: string): Promise<Map<string, string>> {
  const rows = await db.selectFrom("repo_refs").select(["ref", "commit"]).where("repo_id", "=", repoId).execute();
  return new Map(rows.map((r) => [r.ref, r.commit]));
}

/** Replaces the recorded refs with `refs`. */
export async function setRefs(db: Db, repoId: string, refs: ReadonlyMap<string, string>): Promise<void> {
  await db.transaction().execute(async (tx) => {
    await tx.deleteFrom("repo_refs").where("repo_id", "=", repoId).execute();
    const values = [...refs].map(([ref, commit]) => ({ repo_id: repoId, ref, commit }));
    for (let i = 0; i < values.length; i += 1000) await tx.insertInto("repo_refs").values(values.slice(i, i + 1000)).execute();
  });
}

export async function hasCommit(db: Db, repoId: string, commit: string): Promise<boolean> {
  const r = await db.selectFrom("repo_commits").select("commit").where("repo_id", "=", repoId).where("commit", "=", commit).executeTakeFirst();
  return r !== undefined;
}

export interface Definition {
  name: string;
  file: string;
  job: unknown;
}

/** Stores what a commit defines, once: a second store of one commit (another controller) changes nothing. */
export async function putCommit(db: Db, repoId: string, commit: string, defs: readonly Definition[], errors: readonly string[]): Promise<void> {
  await db.transaction().execute(async (tx) => {
    const inserted = await tx
      .insertInto("repo_commits")
      .values({ repo_id: repoId, commit, errors: JSON.stringify(errors) })
      .onConflict((oc) => oc.columns(["repo_id", "commit"]).doNothing())
      .returning("commit")
      .executeTakeFirst();
    if (!inserted) return;
    const values = defs.map((d) => ({ repo_id: repoId, commit, name: d.name, file: d.file, job: JSON.stringify(d.job) }));
    for (let i = 0; i < values.length; i += 500) await tx.insertInto("job_definitions").values(values.slice(i, i + 500)).execute();
  });
}

/** Every valid job definition at a commit (empty when the commit has not been read). */
export async function definitionsAt(db: Db, repoId: string, commit: string): Promise<JobDefinitionRow[]> {
  return db.selectFrom("job_definitions").selectAll().where("repo_id", "=", repoId).where("commit", "=", commit).orderBy("name").execute();
}

/** How many valid job definitions a commit has (without reading them). */
export async function countDefinitions(db: Db, repoId: string, commit: string): Promise<number> {
  const r = await db.selectFrom("job_definitions").select((eb) => eb.fn.countAll<string>().as("n")).where("repo_id", "=", repoId).where("commit", "=", commit).executeTakeFirst();
  return Number(r?.n ?? 0);
}

/** The validation errors of a commit's definitions, or undefined when it has not been read. */
export async function commitErrors(db: Db, repoId: string, commit: string): Promise<string[] | undefined> {
  const r = await db.selectFrom("repo_commits").select("errors").where("repo_id", "=", repoId).where("commit", "=", commit).executeTakeFirst();
  return r?.errors;
}

/**
 * Claims a push of `commit` to `ref`: true for the first claimer only, so a
 * commit that arrives by webhook and by poll (or twice) triggers once.
 */
export async function claimPush(db: Db, p: { repoId: string; ref: string; commit: string; via: string; deliveryId?: string }): Promise<boolean> {
  const r = await db
    .insertInto("repo_pushes")
    .values({ repo_id: p.repoId, ref: p.ref, commit: p.commit, via: p.via, delivery_id: p.deliveryId ?? null })
    .onConflict((oc) => oc.columns(["repo_id", "ref", "commit"]).doNothing())
    .returning("commit")
    .executeTakeFirst();
  return r !== undefined;
}

export interface SyncRecord {
  startedAt: Date;
  durationMs: number;
  via: string;
  commit?: string;
  error?: string;
}

/** Records a finished sync in the repo's history and on the repo. */
export async function recordSync(db: Db, repoId: string, s: SyncRecord): Promise<void> {
  await db.transaction().execute(async (tx) => {
    await tx
      .insertInto("repo_syncs")
      .values({ repo_id: repoId, started_at: s.startedAt, duration_ms: Math.round(s.durationMs), via: s.via, commit: s.commit ?? null, error: s.error ?? null })
      .execute();
    await tx
      .updateTable("repos")
      .set({
        last_sync_at: s.startedAt,
        last_sync_ms: Math.round(s.durationMs),
        last_sync_error: s.error ?? null,
        ...(s.commit ? { last_sync_commit: s.commit } : {}),
      })
      .where("id", "=", repoId)
      .execute();
  });
}

export async function listSyncs(db: Db, repoId: string, limit: number): Promise<RepoSyncRow[]> {
  return db.selectFrom("repo_syncs").selectAll().where("repo_id", "=", repoId).orderBy("id", "desc").limit(limit).execute();
}
