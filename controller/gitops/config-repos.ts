/**
 * Repositories declared in the controller's config file (`hodei controller
 * --config FILE`): registered at start, or updated by name, and synced in the
 * background. Secrets are read from the files the config names, so the config
 * itself can be committed.
 */
import { readFile } from "node:fs/promises";
import { isAbsolute, resolve, dirname } from "node:path";
import type { Logger } from "pino";
import type { Db } from "../store/db.js";
import type { RepoRow } from "../store/schema.js";
import { getRepoByName, insertRepo, updateRepo, type NewRepo } from "../store/repos.js";
import { parseDuration } from "../../schemas/durations.js";
import type { ControllerConfigRepo } from "../../schemas/controller-config.js";
import { checkNewRepo } from "../api/gitops.js";
import { ConfigError } from "../config.js";
import type { Syncer } from "./sync.js";

async function secret(file: string | undefined, base: string, what: string): Promise<string> {
  if (!file) return "";
  const path = isAbsolute(file) ? file : resolve(base, file);
  try {
    return (await readFile(path, "utf8")).replace(/\r?\n$/, "");
  } catch (err) {
    throw new ConfigError(`cannot read the ${what} file ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
}

/** Every repo of the config, checked as `hodei repos add` checks it; relative paths are from the config file's folder. */
export async function resolveConfigRepos(repos: readonly ControllerConfigRepo[], configFile: string): Promise<NewRepo[]> {
  const base = dirname(resolve(configFile));
  const out: NewRepo[] = [];
  const names = new Set<string>();
  for (const [i, r] of repos.entries()) {
    const url = isAbsolute(r.url) || /^[a-z][a-z0-9+.-]*:\/\//i.test(r.url) || /^[^/]+@[^/]+:/.test(r.url) ? r.url : resolve(base, r.url);
    const poll = r.pollInterval === undefined ? 0 : parseDuration(String(r.pollInterval));
    let repo: NewRepo;
    try {
      repo = checkNewRepo({
        name: r.name ?? "",
        url,
        branch: r.branch ?? "",
        path: r.path ?? "",
        platform: r.platform ?? false,
        webhookSecret: await secret(r.webhookSecretFile, base, "webhook secret"),
        token: await secret(r.tokenFile, base, "token"),
        pollIntervalMs: poll === 0 && r.pollInterval !== undefined ? -1 : poll,
      });
    } catch (err) {
      if (err instanceof ConfigError) throw err;
      throw new ConfigError(`${configFile}: repos[${i}] (${r.name ?? r.url}): ${(err as Error).message}`);
    }
    if (names.has(repo.name)) throw new ConfigError(`${configFile}: repos[${i}]: the name ${repo.name} is used twice`);
    names.add(repo.name);
    out.push(repo);
  }
  return out;
}

/** Registers or updates each repo, then syncs them in the background (a failure is recorded on the repo). */
export async function applyConfigRepos(db: Db, syncer: Syncer, repos: readonly NewRepo[], log: Logger): Promise<RepoRow[]> {
  const rows: RepoRow[] = [];
  for (const r of repos) {
    const existing = await getRepoByName(db, r.name);
    const row = existing ? await updateRepo(db, existing.id, r) : await insertRepo(db, r);
    if (!row) continue; // added by another controller at this very moment: it syncs it
    rows.push(row);
    log.info({ repo: row.name, updated: Boolean(existing) }, "repository from the config file");
  }
  for (const row of rows) void syncer.sync(row, "config").catch(() => {});
  return rows;
}
