/**
 * The string formats the JSON Schemas refer to (`"format": "duration"`...).
 * Each one is a function that throws SpecValueError with a human message, so
 * ajv only learns valid/invalid and the error translator asks the same
 * function again for the words. Editors that do not know these formats simply
 * ignore them; the loader is the authority.
 */
import { posix } from "node:path";
import { checkTimezone, parseCron } from "./cron.js";
import { parseCpu, parseDuration, parseSize } from "./durations.js";
import { quote, SpecValueError } from "./errors.js";
import { parseFilterPattern } from "./filter-pattern.js";

type Check = (s: string) => void;

const check = (ok: boolean, message: string): void => {
  if (!ok) throw new SpecValueError(message);
};

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
// Kubernetes-style label keys: optional DNS prefix and "/", then a name.
const LABEL_KEY = /^([a-z0-9]([-a-z0-9.]*[a-z0-9])?\/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;

export const FORMATS: Readonly<Record<string, Check>> = {
  duration: (s) => void parseDuration(s),
  "positive-duration": (s) => {
    check(parseDuration(s) > 0, `invalid duration ${quote(s)}: must be greater than zero`);
  },
  size: (s) => void parseSize(s),
  cpu: (s) => void parseCpu(s),
  cron: (s) => void parseCron(s),
  "filter-pattern": (s) => void parseFilterPattern(s),
  timezone: (s) => checkTimezone(s),
  "dns-label": (s) => {
    check(
      s.length <= 63 && DNS_LABEL.test(s),
      `invalid name ${quote(s)}: use 1 to 63 lowercase letters, digits and "-", starting and ending with a letter or digit`,
    );
  },
  "env-name": (s) => {
    check(
      ENV_NAME.test(s),
      `invalid environment variable name ${quote(s)}: use letters, digits and "_", not starting with a digit`,
    );
  },
  "secret-name": (s) => {
    check(ENV_NAME.test(s), `invalid secret name ${quote(s)}: use letters, digits and "_", not starting with a digit`);
  },
  "label-key": (s) => {
    const name = s.slice(s.lastIndexOf("/") + 1);
    check(
      s.length <= 253 && name.length <= 63 && LABEL_KEY.test(s),
      `invalid label key ${quote(s)}: use letters, digits, "-", "_" and ".", starting and ending with a letter or digit, optionally after a domain and "/" (e.g. "hodei.dev/team")`,
    );
  },
  "relative-path": (s) => {
    const q = quote(s);
    check(s !== "" && !s.includes("\0"), `invalid path ${q}: must be a non-empty relative path`);
    const slashed = s.replace(/\\/g, "/");
    check(!slashed.startsWith("/") && !/^[A-Za-z]:/.test(slashed), `invalid path ${q}: must be relative to the workspace, not absolute`);
    const norm = posix.normalize(slashed);
    check(norm !== ".." && !norm.startsWith("../"), `invalid path ${q}: must stay inside the workspace (too many "..")`);
  },
  "image-ref": (s) => {
    check(s !== "" && !/\s/.test(s), `invalid image ${quote(s)}: must be an image reference such as "node:20" without spaces`);
  },
};

/**
 * FORMATS as ajv format definitions: valid or not, the words come later from
 * formatProblem. scripts/gen-validators.mjs registers these with ajv, and the
 * validators it generates (schemas/gen/) call `.validate` on them at run time.
 */
export const AJV_FORMATS: Readonly<Record<string, { type: "string"; validate: (s: string) => boolean }>> = Object.fromEntries(
  Object.entries(FORMATS).map(([name, fn]) => [
    name,
    {
      type: "string",
      validate: (s: string): boolean => {
        try {
          fn(s);
          return true;
        } catch {
          return false;
        }
      },
    },
  ]),
);

/** What a field of this format looks like, for "expected a string, got a number" hints. */
export const FORMAT_HINTS: Readonly<Record<string, string>> = {
  duration: 'durations need a unit, e.g. "10s"',
  "positive-duration": 'durations need a unit, e.g. "10s"',
  size: 'write sizes as strings, e.g. "512Mi"',
  cron: 'write schedules as strings, e.g. "*/15 * * * *"',
  timezone: 'write time zones as names, e.g. "Europe/Madrid"',
};

/** The message for a value that failed `format`, or undefined if it is fine. */
export function formatProblem(format: string, value: string): string | undefined {
  const fn = FORMATS[format];
  if (!fn) return undefined;
  try {
    fn(value);
    return undefined;
  } catch (e) {
    if (e instanceof SpecValueError) return e.message;
    throw e;
  }
}
