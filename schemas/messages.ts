/**
 * Turns ajv's errors into one human sentence per real problem.
 *
 * ajv reports in schema terms ("must NOT have additional properties", plus a
 * cascade of oneOf branch failures). Users think in YAML terms: which field is
 * unknown, which one is missing, what the value should have looked like. Each
 * issue also says whether it points at a key or at a value, so the loader can
 * place the caret on the right token.
 */
import type { ErrorObject } from "ajv/dist/2020.js";
import { quote } from "./errors.js";
import { FORMAT_HINTS, formatProblem } from "./formats.js";
import { didYouMean } from "./suggest.js";

export interface Issue {
  /** JSON pointer of the node in question. */
  pointer: string;
  message: string;
  /**
   * Point at the key of the last pointer segment (unknown fields; also a
   * mapping that lacks a field, so `metadata:` is underlined rather than
   * its first entry), or at the value itself.
   */
  at: "key" | "value";
}

type Schema = Record<string, unknown>;

export const escapePointer = (seg: string): string => seg.replace(/~/g, "~0").replace(/\//g, "~1");
export const unescapePointer = (seg: string): string => seg.replace(/~1/g, "/").replace(/~0/g, "~");

const q = quote;

/** "a string", "a list"... in YAML words, for "got ..." */
export function describeValue(v: unknown): string {
  if (v === null || v === undefined) return "an empty value";
  if (Array.isArray(v)) return "a list";
  if (typeof v === "object") return "a mapping";
  if (typeof v === "string") return "a string";
  if (typeof v === "number") return "a number";
  if (typeof v === "boolean") return "a boolean";
  return typeof v;
}

const TYPE_WORDS: Readonly<Record<string, string>> = {
  string: "a string",
  number: "a number",
  integer: "an integer",
  boolean: "a boolean (true or false)",
  array: "a list",
  object: "a mapping",
  null: "an empty value",
};

/** `"a", "b" or "c"` */
const joinOr = (words: readonly string[]): string =>
  words.length <= 1 ? (words[0] ?? "") : `${words.slice(0, -1).join(", ")} or ${words.at(-1) ?? ""}`;

function lastSegment(pointer: string): string {
  const i = pointer.lastIndexOf("/");
  return i < 0 ? "document" : unescapePointer(pointer.slice(i + 1));
}

function typeMessage(e: ErrorObject, ps: Schema): string {
  const expected = ([] as unknown[]).concat(e.params["type"] as unknown);
  const data = e.data;
  if (expected.length === 1 && expected[0] === "integer" && typeof data === "number") {
    return `expected an integer, got ${data}`;
  }
  const want = joinOr(expected.map((t) => TYPE_WORDS[String(t)] ?? String(t)));
  let msg = `expected ${want}, got ${describeValue(data)}`;
  // YAML turns `true`, `8080` and `10` into non-strings; say how to keep them strings.
  if (expected.includes("string") && (typeof data === "number" || typeof data === "boolean")) {
    const hint = typeof ps["format"] === "string" ? FORMAT_HINTS[ps["format"]] : undefined;
    msg += hint ? ` (${hint})` : ` (put it in quotes to make it a string: "${String(data)}")`;
  }
  return msg;
}

function rangeMessage(e: ErrorObject, ps: Schema): string {
  const what = ps["type"] === "integer" ? "an integer" : "a number";
  const min = ps["minimum"];
  const max = ps["maximum"];
  if (typeof min === "number" && typeof max === "number") return `expected ${what} from ${min} to ${max}, got ${q(e.data)}`;
  const limit = q(e.params["limit"]);
  switch (e.keyword) {
    case "minimum":
      return `must be at least ${limit}, got ${q(e.data)}`;
    case "maximum":
      return `must be at most ${limit}, got ${q(e.data)}`;
    case "exclusiveMinimum":
      return `must be greater than ${limit}, got ${q(e.data)}`;
    default:
      return `must be less than ${limit}, got ${q(e.data)}`;
  }
}

/** One ajv error in YAML words (translateErrors drops the noise first). */
function translate(e: ErrorObject): Issue {
  const ps = (e.parentSchema ?? {}) as Schema;
  const at = e.instancePath;
  const p = e.params;
  const value = (message: string): Issue => ({ pointer: at, message, at: "value" });
  const key = (name: string, message: string): Issue => ({ pointer: `${at}/${escapePointer(name)}`, message, at: "key" });

  // Errors from propertyNames are about a key of the mapping, not its value.
  if (e.propertyName !== undefined) {
    const k = e.propertyName;
    if (e.keyword === "format") return key(k, formatProblem(String(p["format"]), k) ?? `invalid key ${q(k)}`);
    if (e.keyword === "minLength") return key(k, "keys must not be empty");
    return key(k, `invalid key ${q(k)}: ${e.message ?? ""}`);
  }
  switch (e.keyword) {
    case "additionalProperties": {
      const name = String(p["additionalProperty"]);
      const known = Object.keys((ps["properties"] ?? {}) as Schema);
      return key(name, `unknown field ${q(name)}${didYouMean(name, known)}`);
    }
    case "required":
      return { pointer: at, message: `missing required field ${q(p["missingProperty"])}`, at: "key" };
    case "dependentRequired":
      return key(String(p["property"]), `${q(p["property"])} can only be used with ${q(p["missingProperty"])}`);
    case "oneOf": {
      // Our only oneOf is "exactly one of these required fields" (run/command).
      const branches = (e.schema ?? []) as Schema[];
      const names = branches.flatMap((b) => (Array.isArray(b["required"]) ? (b["required"] as string[]) : []));
      const data = (e.data ?? {}) as Schema;
      const present = names.filter((n) => n in data);
      const message = `${lastSegment(at)} must have exactly one of ${joinOr(names.map(q))}`;
      if (present.length > 1) return key(present.at(-1) ?? "", `${message}, not both`);
      return { pointer: at, message, at: "key" };
    }
    case "type":
      return value(typeMessage(e, ps));
    case "const":
      if (at === "/apiVersion") return value(`unsupported apiVersion ${q(e.data)}: expected ${q(p["allowedValue"])}`);
      return value(`invalid value ${q(e.data)}: expected ${q(p["allowedValue"])}`);
    case "enum": {
      const allowed = (p["allowedValues"] ?? []) as unknown[];
      const hint = typeof e.data === "string" ? didYouMean(e.data, allowed.map(String)) : "";
      return value(`invalid value ${q(e.data)}: expected ${joinOr(allowed.map(q))}${hint}`);
    }
    case "format":
      return value(formatProblem(String(p["format"]), String(e.data)) ?? `invalid ${String(p["format"])} ${q(e.data)}`);
    case "pattern": {
      // Patterns sit beside a format (for editors); the format's words are the better message,
      // and the same words twice are reported once.
      const format = typeof ps["format"] === "string" ? ps["format"] : undefined;
      const problem = format === undefined ? undefined : formatProblem(format, String(e.data));
      return value(problem ?? `invalid value ${q(e.data)}: must match ${String(p["pattern"])}`);
    }
    case "minimum":
    case "maximum":
    case "exclusiveMinimum":
    case "exclusiveMaximum":
      return value(rangeMessage(e, ps));
    case "minItems":
      return value(p["limit"] === 1 ? "must not be empty" : `must have at least ${q(p["limit"])} items`);
    case "maxItems":
      return value(`must have at most ${q(p["limit"])} items`);
    case "minLength": {
      const what = typeof ps["title"] === "string" ? `${ps["title"]} ` : ""; // e.g. "the program (command[0])"
      return value(p["limit"] === 1 ? `${what}must not be empty` : `${what}must be at least ${q(p["limit"])} characters long`);
    }
    case "maxLength":
      return value(`must be at most ${q(p["limit"])} characters long`);
    case "uniqueItems": {
      const later = Math.max(Number(p["i"]), Number(p["j"]));
      const item = Array.isArray(e.data) ? (e.data as unknown[])[later] : undefined;
      return { pointer: `${at}/${later}`, message: `duplicate value ${q(item)}`, at: "value" };
    }
    default:
      return value(e.message ?? `failed ${e.keyword}`);
  }
}

/** Branch failures inside oneOf/anyOf are summarised by the oneOf error itself. */
const INSIDE_BRANCH = /\/(oneOf|anyOf)\/\d+\//;

export function translateErrors(errors: readonly ErrorObject[]): Issue[] {
  // A value of the wrong type makes every other complaint about it moot.
  const wrongType = new Set(errors.filter((e) => e.keyword === "type" && e.propertyName === undefined).map((e) => e.instancePath));
  const out: Issue[] = [];
  const seen = new Set<string>();
  const missing = new Map<string, { issue: Issue; names: string[] }>(); // one line per mapping
  for (const e of errors) {
    // An if/then/else says "must match the then schema" beside the real error inside that branch: keep only the latter.
    if (INSIDE_BRANCH.test(e.schemaPath) || e.keyword === "propertyNames" || e.keyword === "if") continue;
    if (e.keyword !== "type" && e.propertyName === undefined && wrongType.has(e.instancePath)) continue;
    const issue = translate(e);
    if (e.keyword === "required") {
      const name = q(e.params["missingProperty"]);
      const prev = missing.get(issue.pointer);
      if (prev) {
        prev.names.push(name);
        prev.issue.message = `missing required fields ${prev.names.slice(0, -1).join(", ")} and ${name}`;
        continue;
      }
      missing.set(issue.pointer, { issue, names: [name] });
    }
    const id = `${issue.pointer}\n${issue.message}`;
    if (seen.has(id)) continue;
    seen.add(id);
    out.push(issue);
  }
  return out;
}
