/**
 * The scheduler's job source for repositories: every job defined at the head
 * of a repo's tracked branch (repos.last_sync_commit, what `hodei jobs ls`
 * shows) with a `triggers.schedule` is a scheduled job (scheduler/scheduler.ts),
 * read afresh on every pass of the loop, so a job added, changed or removed by
 * a sync is picked up by the next pass (the server pokes the loop after every
 * sync).
 *
 * - Key `repo/<repo id>/<job name>`: the same on every controller and across
 *   syncs, so a job whose definition changes (another cron, another time
 *   zone) keeps its claimed ticks. All entries of a job, whatever their time
 *   zones, are one scheduled job: two entries firing at one instant are one tick.
 * - `since`: when the job, with a schedule, appeared at the head: the start of
 *   the first sync (repo_syncs, the head's history) that found it at the head,
 *   counting from the last sync whose head did not have it. So a job added
 *   now never fires a tick from before, and a job removed and added again
 *   counts from its return.
 * - A run is made at the head commit, with trigger `{event: "schedule", ...}`
 *   and idempotency key `schedule:<key>@<tick>` (a second safeguard behind the
 *   tick's claim).
 */
import { sql } from "kysely";
import type { Logger } from "pino";
import type { Db } from "../store/db.js";
import { insertRun, type Writer } from "../store/runs.js";
import { forgetTicksBefore } from "../store/schedules.js";
import type { JobDocument, ScheduleEntry } from "../../schemas/types.js";
import { DEFAULT_TIMEZONE } from "../../schemas/cron.js";
import { entries, type ScheduledJob } from "../scheduler/scheduler.js";
import { nextFire } from "../scheduler/ticks.js";
import type { RunTrigger } from "./pushes.js";

/** Stored on a scheduled run (runs.trigger). */
export type ScheduleTrigger = RunTrigger & {
  event: "schedule";
  /** The entry that fired, and its time zone. */
  cron: string;
  timezone: string;
  /** The tick, ISO 8601 UTC. */
  tick: string;
};

export const scheduleKey = (repoId: string, job: string): string => `repo/${repoId}/${job}`;

/** `triggers.schedule` holds at least one entry (SQL over job_definitions.job). */
const HAS_SCHEDULE = (alias: string) => sql.raw(`jsonb_array_length(coalesce(${alias}.job #> '{spec,triggers,schedule}', '[]'::jsonb)) > 0`);

/**
 * When each of these jobs (by name), with a schedule, appeared at the repo's
 * head: the start of the first sync since the last sync whose head lacked it.
 * Jobs no sync has recorded at the head yet are absent.
 */
export async function scheduledSince(db: Db, repoId: string, names: readonly string[]): Promise<Map<string, Date>> {
  if (names.length === 0) return new Map();
  const r = await sql<{ name: string; since: Date }>`
    select d.name, min(s.started_at) as since
    from repo_syncs s
    join job_definitions d on d.repo_id = s.repo_id and d.commit = s.commit
    where s.repo_id = ${repoId} and d.name in (${sql.join(names)}) and ${HAS_SCHEDULE("d")}
      and s.id > coalesce((
        select max(s2.id) from repo_syncs s2
        where s2.repo_id = s.repo_id and s2.commit is not null
          and not exists (
            select 1 from job_definitions d2
            where d2.repo_id = s2.repo_id and d2.commit = s2.commit and d2.name = d.name and ${HAS_SCHEDULE("d2")})
      ), 0)
    group by d.name`.execute(db);
  return new Map(r.rows.map((x) => [x.name, new Date(x.since)]));
}

/** The entry of `job` that fires at `tick` (the first one, if several do). */
function firedEntry(job: Pick<ScheduledJob, "cron" | "timezone">, tick: Date): [string, string] {
  const before = new Date(tick.getTime() - 1);
  const all = entries(job);
  const hit = all.find(([e, tz]) => nextFire(e, tz, before)?.getTime() === tick.getTime()) ?? all[0]!;
  return [hit[0], hit[1] ?? DEFAULT_TIMEZONE];
}

export interface RepoScheduleSource {
  /** The scheduler's `jobs`. */
  jobs: () => Promise<ScheduledJob[]>;
}

/**
 * The scheduled jobs of every repository in `db`. `since` is cached per
 * (repo, head): it only changes when the head does.
 */
export function repoScheduledJobs(db: Db): RepoScheduleSource {
  const sinceCache = new Map<string, { head: string; since: Map<string, Date> }>();
  const jobs = async (): Promise<ScheduledJob[]> => {
    const repos = await db.selectFrom("repos").select(["id", "name", "branch", "last_sync_commit"]).where("last_sync_commit", "is not", null).execute();
    const out: ScheduledJob[] = [];
    for (const k of sinceCache.keys()) if (!repos.some((r) => r.id === k)) sinceCache.delete(k);
    for (const repo of repos) {
      const head = repo.last_sync_commit!;
      const defs = await sql<{ name: string; file: string; job: JobDocument }>`
        select d.name, d.file, d.job from job_definitions d
        where d.repo_id = ${repo.id} and d.commit = ${head} and ${HAS_SCHEDULE("d")}
        order by d.name`.execute(db);
      if (defs.rows.length === 0) {
        sinceCache.delete(repo.id);
        continue;
      }
      let cached = sinceCache.get(repo.id);
      if (cached?.head !== head || defs.rows.some((d) => !cached!.since.has(d.name))) {
        cached = { head, since: await scheduledSince(db, repo.id, defs.rows.map((d) => d.name)) };
        sinceCache.set(repo.id, cached);
      }
      for (const d of defs.rows) {
        const job = typeof d.job === "string" ? (JSON.parse(d.job) as JobDocument) : d.job;
        const key = scheduleKey(repo.id, d.name);
        const since = cached.since.get(d.name);
        if (!since) continue; // at the head before its sync is recorded: the next pass has it
        const triggers = job.spec.triggers!;
        const cron: readonly ScheduleEntry[] = triggers.schedule!;
        const sj: ScheduledJob = {
          key,
          cron,
          timezone: triggers.timezone,
          since,
          submit: async (w: Writer, tick: Date) => {
            const [expr, tz] = firedEntry(sj, tick);
            const trigger: ScheduleTrigger = {
              event: "schedule",
              repo: repo.name,
              ref: `refs/heads/${repo.branch}`,
              commit: head,
              via: "schedule",
              cron: expr,
              timezone: tz,
              tick: tick.toISOString(),
            };
            const { run } = await insertRun(w, {
              jobName: d.name,
              job,
              selector: job.spec.selector ?? {},
              priority: job.spec.priority ?? 0,
              source: `${repo.name}@${head.slice(0, 12)}:${d.file}`,
              idempotencyKey: `schedule:${key}@${tick.toISOString()}`,
              trigger,
              repoId: repo.id,
            });
            return run.id;
          },
        };
        out.push(sj);
      }
    }
    return out;
  };
  return { jobs };
}

/** How long claimed ticks are kept (each job's newest is kept whatever its age). */
export const KEEP_TICKS_MS = 7 * 24 * 60 * 60_000;

/** Deletes claimed ticks older than `keepMs` now and every `everyMs`; returns the stop function. */
export function startTickHousekeeping(db: Db, log: Logger, keepMs = KEEP_TICKS_MS, everyMs = 60 * 60_000): () => Promise<void> {
  let inFlight: Promise<void> | undefined;
  const once = (): void => {
    if (inFlight) return;
    inFlight = forgetTicksBefore(db, new Date(Date.now() - keepMs))
      .then(
        (n) => void (n > 0 && log.info({ deleted: n }, "forgot old schedule ticks")),
        (err: unknown) => log.warn({ err }, "could not forget old schedule ticks"),
      )
      .finally(() => (inFlight = undefined));
  };
  once();
  const t = setInterval(once, everyMs);
  t.unref();
  return async () => {
    clearInterval(t);
    await inFlight;
  };
}
