/**
 * Five-field cron expressions (minute hour day-of-month month day-of-week),
 * the dialect of crontab(5) and GitHub Actions' `schedule`, evaluated in an
 * IANA time zone.
 *
 * The library croner (pinned in package.json) is the authority: it computes
 * next-fire times, time zones and daylight-saving transitions, and whatever
 * it refuses is invalid. `parseCron` is the one way in, for the validator and
 * the scheduler alike, so the two cannot disagree on what is valid. Before
 * handing an expression to croner it narrows croner's dialect to the 5-field
 * one (no seconds or year field, no macros, no `L W # + ?` extensions) and
 * words the common mistakes precisely (which field, which value, what range);
 * anything else croner refuses keeps croner's own words.
 */
import { Cron, type CronOptions } from "croner";
import { quote, SpecValueError } from "./errors.js";
import { didYouMean } from "./suggest.js";

interface Field {
  name: string;
  min: number;
  max: number;
  names?: readonly string[];
}

const MONTHS = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"];
const DAYS = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"];

const FIELDS: readonly Field[] = [
  { name: "minute", min: 0, max: 59 },
  { name: "hour", min: 0, max: 23 },
  { name: "day of month", min: 1, max: 31 },
  { name: "month", min: 1, max: 12, names: MONTHS },
  { name: "day of week", min: 0, max: 7, names: DAYS },
];

// Macros are not part of the 5-field dialect (croner would accept them); say what to write instead.
const MACROS: Readonly<Record<string, string>> = {
  "@yearly": "0 0 1 1 *",
  "@annually": "0 0 1 1 *",
  "@monthly": "0 0 1 * *",
  "@weekly": "0 0 * * 0",
  "@daily": "0 0 * * *",
  "@midnight": "0 0 * * *",
  "@hourly": "0 * * * *",
};

/**
 * How croner reads every schedule. `5-part`: no seconds or year field.
 * `domAndDow: false`: as crontab, when both day fields are restricted either
 * matching is enough. `sloppyRanges`: `5/20` means `5-59/20`, as this dialect
 * always allowed (a bare `/20` is refused below). `fixedTimeRule:
 * "no-wildcard"`: a job with no `*` or step in minute and hour (`30 2 * * *`,
 * `0 9,17 * * *`) is a fixed-time job, which on a DST spring-forward day runs
 * at the first valid time after the gap and on a fall-back day runs once, at
 * the first occurrence; other jobs (`*\/15 * * * *`) follow real time, skipping
 * the missing hour and running through the repeated one (Vixie cron's rule;
 * see docs/schedules.md).
 */
export const CRON_OPTIONS = {
  mode: "5-part",
  domAndDow: false,
  sloppyRanges: true,
  fixedTimeRule: "no-wildcard",
  paused: true,
} as const satisfies CronOptions;

/** The zone a schedule without `timezone` runs in. */
export const DEFAULT_TIMEZONE = "UTC";

/** A valid schedule, ready to answer "when next?". */
export interface CronSchedule {
  /** The expression as written. */
  readonly expr: string;
  readonly timezone: string;
  /** The first fire time strictly after `after`, or null if there is none. */
  next(after: Date): Date | null;
}

/**
 * Parses and checks a schedule; throws SpecValueError with the message the
 * validator prints. `timezone` is an IANA name (default UTC).
 */
export function parseCron(expr: string, timezone: string = DEFAULT_TIMEZONE): CronSchedule {
  checkTimezone(timezone);
  const fail = (why: string) => new SpecValueError(`invalid schedule ${quote(expr)}: ${why}`);
  const macro = MACROS[expr.trim().toLowerCase()];
  if (macro) throw fail(`macros are not supported; write "${macro}" instead`);
  const parts = expr.trim().split(/\s+/).filter((p) => p !== "");
  if (parts.length !== 5) {
    throw fail(`expected 5 fields (minute hour day-of-month month day-of-week), got ${parts.length}`);
  }
  parts.forEach((part, i) => checkField(part, FIELDS[i] as Field, fail));
  let cron: Cron;
  try {
    cron = new Cron(parts.join(" "), { ...CRON_OPTIONS, timezone });
  } catch (e) {
    throw fail(e instanceof Error ? e.message.replace(/^Cron\w*:\s*/, "") : String(e));
  }
  // A date that exists in no year (30 February) would never fire; croner finds none.
  if (!cron.nextRun(new Date(Date.UTC(2000, 0, 1)))) throw fail("it never fires: no month it allows has that day (e.g. 30 February)");
  return {
    expr,
    timezone,
    next: (after) => cron.nextRun(after) ?? null,
  };
}

/**
 * Checks an IANA time zone name the way the scheduler will use it (Intl);
 * throws SpecValueError saying what was expected.
 */
export function checkTimezone(tz: string): void {
  try {
    if (tz === "") throw new RangeError("empty");
    new Intl.DateTimeFormat("en-US", { timeZone: tz });
  } catch {
    const hint = didYouMean(tz, [...Intl.supportedValuesOf("timeZone"), "UTC"]);
    throw new SpecValueError(
      `invalid time zone ${quote(tz)}: expected an IANA time zone name such as "Europe/Madrid", "America/New_York" or "UTC"${hint}`,
    );
  }
}

/** Extensions croner knows that the 5-field dialect does not have: `?`, `5#2`, `+MON`, and `L`, `LW`, `5L`, `15W`. */
const EXTENSION_MARK = /[?#+]/;
const EXTENSION_VALUE = /^(L|LW|\d+[LW])$/i;
const extension = (f: Field, text: string) => `${f.name} field "${text}" uses an extension (L, W, #, + or ?) that 5-field cron does not have`;

function checkField(text: string, f: Field, fail: (why: string) => SpecValueError): void {
  for (const item of text.split(",")) {
    const m = /^(\*|[A-Za-z0-9]+(?:-[A-Za-z0-9]+)?)(?:\/(\d+))?$/.exec(item);
    if (!m) {
      if (EXTENSION_MARK.test(item)) throw fail(extension(f, text));
      throw fail(`cannot read ${f.name} field "${text}"`);
    }
    const [, range = "", stepText] = m;
    if (stepText !== undefined && Number(stepText) < 1) throw fail(`step in ${f.name} field must be at least 1`);
    if (range === "*") continue;
    const [a = "", b] = range.split("-");
    const lo = value(a, f, fail);
    if (b !== undefined && lo > value(b, f, fail)) throw fail(`${f.name} range ${range} goes backwards`);
  }
}

function value(text: string, f: Field, fail: (why: string) => SpecValueError): number {
  let n: number;
  if (/^\d+$/.test(text)) {
    n = Number(text);
  } else {
    const i = f.names?.indexOf(text.toLowerCase()) ?? -1;
    if (i < 0) {
      if (EXTENSION_VALUE.test(text)) throw fail(extension(f, text));
      throw fail(`${f.name} "${text}" is not a number${f.names ? " or a name" : ""}`);
    }
    n = f.names === MONTHS ? i + 1 : i;
  }
  if (n < f.min || n > f.max) throw fail(`${f.name} ${n} is out of range ${f.min}-${f.max}`);
  return n;
}
