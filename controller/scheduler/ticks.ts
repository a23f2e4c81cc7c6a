/**
 * When a schedule fires, as pure functions of (expression, time zone, times).
 * A tick is identified by its instant (a Date, stored as timestamptz), which
 * every controller computes alike from the same expression, so the database
 * can hold one claim per (job, tick).
 *
 * Fire times come from croner through `parseCron` (schemas/cron.ts), the same
 * function the validator uses. Across daylight-saving changes croner follows
 * Vixie cron (see CRON_OPTIONS there and docs/schedules.md): a fixed-time job
 * (`30 2 * * *`) whose time falls in a spring-forward gap fires at the first
 * valid time after it, and fires once on a fall-back day; an interval job
 * (`*\/15 * * * *`) skips the missing hour and fires through the repeated one.
 */
import { DEFAULT_TIMEZONE, parseCron, type CronSchedule } from "../../schemas/cron.js";

/** The default catch-up window: a tick missed less than an hour ago still fires (once). */
export const DEFAULT_CATCH_UP_WINDOW_MS = 60 * 60 * 1000;

/** The most ticks `ticksBetween` returns unless told otherwise. */
export const DEFAULT_MAX_TICKS = 1000;

const CACHE_SIZE = 1024;
const cache = new Map<string, CronSchedule>();

/** The parsed schedule (cached); throws SpecValueError for an invalid one, as the validator does. */
export function schedule(expr: string, tz: string = DEFAULT_TIMEZONE): CronSchedule {
  const key = `${tz}\n${expr}`;
  let s = cache.get(key);
  if (!s) {
    s = parseCron(expr, tz);
    if (cache.size >= CACHE_SIZE) cache.delete(cache.keys().next().value as string);
    cache.set(key, s);
  }
  return s;
}

/** The first tick strictly after `after`, or null if the schedule has no more. */
export function nextFire(expr: string, tz: string | undefined, after: Date): Date | null {
  return schedule(expr, tz).next(after);
}

/** The ticks t with from < t <= to, oldest first, at most `max` of them (the first ones). */
export function ticksBetween(expr: string, tz: string | undefined, from: Date, to: Date, max = DEFAULT_MAX_TICKS): Date[] {
  const s = schedule(expr, tz);
  const out: Date[] = [];
  for (let t = s.next(from); t && t <= to && out.length < max; t = s.next(t)) out.push(t);
  return out;
}

/**
 * The tick to fire now, as a list of at most one: the latest tick t with
 * t <= now, t after `lastClaimed` (the newest tick already claimed for this
 * job; null: none), and now - t < `catchUpWindowMs`. After downtime only the
 * last missed tick fires, and only while it is younger than the window; the
 * ticks before it are skipped, never fired in a burst. The same rule covers a
 * timer that wakes late: a tick later than the window never fires.
 */
export function dueTicks(
  expr: string,
  tz: string | undefined,
  lastClaimed: Date | null,
  now: Date,
  catchUpWindowMs: number = DEFAULT_CATCH_UP_WINDOW_MS,
): Date[] {
  const s = schedule(expr, tz);
  // Ticks at or before `lower` are too old (or claimed already).
  let lower = now.getTime() - catchUpWindowMs;
  if (lastClaimed && lastClaimed.getTime() > lower) lower = lastClaimed.getTime();
  if (lower >= now.getTime()) return [];
  // Look back from now in doubling steps rather than walking the whole window
  // tick by tick (croner takes a fraction of a millisecond per tick, and a
  // window may hold thousands): the first step with a tick in it holds the
  // latest one.
  for (let step = 60_000; ; step *= 2) {
    const from = Math.max(lower, now.getTime() - step);
    let t = s.next(new Date(from));
    if (t && t <= now) {
      let last = t;
      while ((t = s.next(last)) && t <= now) last = t;
      return [last];
    }
    if (from <= lower) return [];
  }
}
