/**
 * The one grammar for durations ("1h30m"), byte sizes ("512Mi") and CPU
 * amounts ("500m") in Hodei: job specs (through the JSON Schema formats),
 * every CLI flag (cli/flags.ts), the controller and the agent all call these
 * functions, so `timeout: 10x` and `--drain-timeout 10x` get the same message.
 * The rules are written once, in docs/specs.md ("Durations, sizes, CPU,
 * schedules"). The schemas' `pattern`s (DURATION_PATTERN, SIZE_PATTERN) are
 * the same syntax for editors; test/unit/schemas/grammar.test.ts keeps them
 * in step with the parsers.
 */
import { quote, SpecValueError } from "./errors.js";

export { SpecValueError } from "./errors.js";

const DURATION_UNITS: ReadonlyArray<readonly [string, number]> = [
  ["d", 86_400_000],
  ["h", 3_600_000],
  ["m", 60_000],
  ["s", 1_000],
  ["ms", 1],
];

/** A year: longer is certainly a typo, and it keeps timer arithmetic exact. */
export const MAX_DURATION_MS = 365 * 86_400_000;

/**
 * The syntax of a duration as a JSON Schema pattern (ECMAScript regex), for
 * editors: it accepts exactly what parseDuration accepts, except values over
 * the 365d maximum, which only the parser refuses.
 */
export const DURATION_PATTERN = "^(0|(?=\\d)(\\d+(\\.\\d+)?d)?(\\d+(\\.\\d+)?h)?(\\d+(\\.\\d+)?m)?(\\d+(\\.\\d+)?s)?(\\d+(\\.\\d+)?ms)?)$";

const DURATION_EXPECTED = 'expected a number followed by ms, s, m, h or d, e.g. "90s" or "1h30m"';

/**
 * Milliseconds in a duration such as `90s`, `10m`, `1h30m`, `250ms`, `2d`,
 * `1.5h`. Units go from largest to smallest, each at most once; `0` alone is
 * allowed. Throws SpecValueError with a message that says what is expected.
 */
export function parseDuration(s: string): number {
  const fail = (why: string) => new SpecValueError(`invalid duration ${quote(s)}: ${why}`);
  if (typeof s !== "string") throw fail(DURATION_EXPECTED);
  if (s === "0") return 0;
  if (s.startsWith("-")) throw fail("durations cannot be negative");
  // One rule everywhere, flags included: only 0 may go without a unit (is "45" seconds? milliseconds?).
  if (/^\d+(\.\d+)?$/.test(s)) throw fail(`missing unit: write "${s}s" for seconds or "${s}ms" for milliseconds (only 0 may be written without a unit)`);
  const part = /(\d+(?:\.\d+)?)(ms|s|m|h|d)/y;
  let total = 0;
  let lastRank = -1;
  let pos = 0;
  while (pos < s.length) {
    part.lastIndex = pos;
    const m = part.exec(s);
    if (!m) throw fail(DURATION_EXPECTED);
    const [whole, num = "", unit = ""] = m;
    const rank = DURATION_UNITS.findIndex(([u]) => u === unit);
    if (rank <= lastRank) throw fail('units must go from largest to smallest, each once, e.g. "1h30m"');
    lastRank = rank;
    total += Number(num) * (DURATION_UNITS[rank]?.[1] ?? 0);
    pos += whole.length;
  }
  if (pos === 0) throw fail(DURATION_EXPECTED);
  if (!(total <= MAX_DURATION_MS)) throw fail("too large; the maximum is 365d");
  return Math.round(total);
}

const SIZE_UNITS: Readonly<Record<string, number>> = {
  "": 1,
  k: 1e3,
  M: 1e6,
  G: 1e9,
  T: 1e12,
  P: 1e15,
  Ki: 2 ** 10,
  Mi: 2 ** 20,
  Gi: 2 ** 30,
  Ti: 2 ** 40,
  Pi: 2 ** 50,
};

/**
 * The syntax of a size as a JSON Schema pattern, for editors: exactly what
 * parseSize accepts, except values too large to count in bytes.
 */
export const SIZE_PATTERN = "^(\\d+|\\d+(\\.\\d+)?(k|M|G|T|P|Ki|Mi|Gi|Ti|Pi))$";

const SIZE_EXPECTED =
  'expected a number of bytes, optionally followed by k, M, G, T, P (powers of 1000) or Ki, Mi, Gi, Ti, Pi (powers of 1024), e.g. "512Mi" or "1.5G"';

/**
 * Bytes in a size such as `512Mi`, `1Gi`, `100M`, `1.5G`, `64k` or `1024`,
 * with Kubernetes' unit spelling. Fractions round up to a whole byte.
 */
export function parseSize(s: string): number {
  const fail = (why: string) => new SpecValueError(`invalid size ${quote(s)}: ${why}`);
  if (typeof s !== "string") throw fail(SIZE_EXPECTED);
  if (s.startsWith("-")) throw fail("sizes cannot be negative");
  const m = /^(\d+(?:\.\d+)?)([A-Za-z]*)$/.exec(s);
  if (!m) throw fail(SIZE_EXPECTED);
  const [, num = "", unit = ""] = m;
  const mult = SIZE_UNITS[unit];
  if (mult === undefined) throw fail(sizeUnitHint(num, unit) ?? SIZE_EXPECTED);
  if (unit === "" && num.includes(".")) throw fail("a size without a unit must be a whole number of bytes");
  const bytes = Math.ceil(Number(num) * mult);
  if (!Number.isSafeInteger(bytes)) throw fail("too large");
  return bytes;
}

/** "512MB", "64K", "1gi": say which of the two real spellings was meant. */
function sizeUnitHint(num: string, unit: string): string | undefined {
  const m = /^([kmgtp])(i?)b?$/i.exec(unit);
  if (!m) return undefined;
  const letter = (m[1] ?? "").toUpperCase();
  const decimal = letter === "K" ? "k" : letter;
  const n = num.length > 20 ? "N" : num; // a long number was quoted once already
  return `unknown unit "${unit}" (did you mean "${n}${decimal}" for powers of 1000 or "${n}${letter}i" for powers of 1024?)`;
}

/**
 * CPU cores from a number (`1`, `0.5`) or a string (`"2"`, `"500m"` for
 * millicores). Must be greater than zero.
 */
export function parseCpu(v: number | string): number {
  const fail = (why: string) => new SpecValueError(`invalid cpu ${quote(v)}: ${why}`);
  let cores: number;
  if (typeof v === "number") {
    cores = v;
  } else {
    const m = /^(\d+(?:\.\d+)?)(m?)$/.exec(typeof v === "string" ? v : "");
    if (!m) throw fail('expected a number of cores such as 1 or 0.5, or millicores such as "500m"');
    const [, num = "", milli = ""] = m;
    cores = milli ? Number(num) / 1000 : Number(num);
  }
  if (!Number.isFinite(cores) || cores <= 0) throw fail("must be greater than zero");
  return cores;
}
