/**
 * Five-field cron expressions (minute hour day-of-month month day-of-week),
 * the dialect of crontab(5) and GitHub Actions' `schedule`. Parsing expands
 * each field to the sorted list of values it matches, which is what the
 * trigger scheduler needs; validation reuses it for precise messages.
 */
import { quote, SpecValueError } from "./errors.js";

export interface CronSchedule {
  minute: number[];
  hour: number[];
  dayOfMonth: number[];
  month: number[];
  /** 0 = Sunday; 7 is accepted as Sunday too and folded into 0. */
  dayOfWeek: number[];
  /** True when day-of-month or day-of-week was `*`: crontab ORs the two fields only when both are restricted. */
  dayOfMonthStar: boolean;
  dayOfWeekStar: boolean;
}

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

// Macros are not part of the 5-field dialect; say what to write instead.
const MACROS: Readonly<Record<string, string>> = {
  "@yearly": "0 0 1 1 *",
  "@annually": "0 0 1 1 *",
  "@monthly": "0 0 1 * *",
  "@weekly": "0 0 * * 0",
  "@daily": "0 0 * * *",
  "@midnight": "0 0 * * *",
  "@hourly": "0 * * * *",
};

export function parseCron(expr: string): CronSchedule {
  const fail = (why: string) => new SpecValueError(`invalid schedule ${quote(expr)}: ${why}`);
  const macro = MACROS[expr.trim()];
  if (macro) throw fail(`macros are not supported; write "${macro}" instead`);
  const parts = expr.trim().split(/\s+/).filter((p) => p !== "");
  if (parts.length !== 5) {
    throw fail(`expected 5 fields (minute hour day-of-month month day-of-week), got ${parts.length}`);
  }
  const sets = parts.map((part, i) => expandField(part, FIELDS[i] as Field, fail));
  const [minute = [], hour = [], dayOfMonth = [], month = [], dow = []] = sets;
  return {
    minute,
    hour,
    dayOfMonth,
    month,
    dayOfWeek: [...new Set(dow.map((d) => d % 7))].sort((a, b) => a - b),
    dayOfMonthStar: parts[2] === "*",
    dayOfWeekStar: parts[4] === "*",
  };
}

function expandField(text: string, f: Field, fail: (why: string) => SpecValueError): number[] {
  const out = new Set<number>();
  for (const item of text.split(",")) {
    const m = /^(\*|[A-Za-z0-9]+(?:-[A-Za-z0-9]+)?)(?:\/(\d+))?$/.exec(item);
    if (!m) throw fail(`cannot read ${f.name} field "${text}"`);
    const [, range = "", stepText] = m;
    const step = stepText === undefined ? 1 : Number(stepText);
    if (step < 1) throw fail(`step in ${f.name} field must be at least 1`);
    let lo = f.min;
    let hi = f.max;
    if (range !== "*") {
      const [a = "", b] = range.split("-");
      lo = value(a, f, fail);
      hi = b === undefined ? (stepText === undefined ? lo : f.max) : value(b, f, fail);
      if (lo > hi) throw fail(`${f.name} range ${range} goes backwards`);
    }
    for (let v = lo; v <= hi; v += step) out.add(v);
  }
  return [...out].sort((a, b) => a - b);
}

function value(text: string, f: Field, fail: (why: string) => SpecValueError): number {
  let n: number;
  if (/^\d+$/.test(text)) {
    n = Number(text);
  } else {
    const i = f.names?.indexOf(text.toLowerCase()) ?? -1;
    if (i < 0) throw fail(`${f.name} "${text}" is not a number${f.names ? " or a name" : ""}`);
    n = f.names === MONTHS ? i + 1 : i;
  }
  if (n < f.min || n > f.max) throw fail(`${f.name} ${n} is out of range ${f.min}-${f.max}`);
  return n;
}
