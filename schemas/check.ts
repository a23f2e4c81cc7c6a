/**
 * Validation of one already-parsed document: pick the schema by `kind`, run
 * the ajv validator, translate its errors, then the few cross-field rules a
 * JSON Schema cannot express. Positions are the loader's business; this
 * module speaks only in JSON pointers.
 */
import type { ErrorObject } from "ajv/dist/2020.js";
import { parseDuration } from "./durations.js";
import { quote } from "./errors.js";
import * as generated from "./gen/documents.js";
import { describeValue, translateErrors, type Issue } from "./messages.js";
import { nulIssues } from "./scan.js";
import { didYouMean } from "./suggest.js";
import { KINDS, type AnyDocument, type JobDocument, type Kind } from "./types.js";

export type { Issue } from "./messages.js";

/**
 * A validator generated ahead of time by scripts/gen-validators.mjs (ajv's
 * standalone code, in schemas/gen/): compiling the schemas on every start cost
 * the CLI about half a second, and ajv itself is no longer loaded. It applies
 * defaults (useDefaults) and sets `errors` as ajv's own validators do, with
 * `data`, `schema` and `parentSchema` (verbose) for the messages.
 */
export interface Validator {
  (data: unknown): boolean;
  errors?: ErrorObject[] | null;
}

// Job, Policy and Provider by kind; `envelope` for documents whose kind is
// missing or unknown: it still checks apiVersion, metadata and stray
// top-level fields, so one run reports them all.
const VALIDATORS: Readonly<Record<Kind | "envelope", Validator>> = generated;

const isMapping = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

/**
 * Validate a parsed document. On success `doc` is the document with defaults
 * filled in (the input object itself is modified: callers pass a fresh copy).
 */
export function checkDocument(obj: unknown): { doc?: AnyDocument; issues: Issue[] } {
  if (!isMapping(obj)) {
    return {
      issues: [
        { pointer: "", at: "value", message: `expected a mapping with apiVersion, kind, metadata and spec, got ${describeValue(obj)}` },
      ],
    };
  }
  const kind = obj["kind"];
  const known = typeof kind === "string" && (KINDS as readonly string[]).includes(kind);
  const validate = VALIDATORS[known ? (kind as Kind) : "envelope"];
  const issues: Issue[] = [];
  if (!known && typeof kind === "string") {
    issues.push({
      pointer: "/kind",
      at: "value",
      message: `unknown kind ${quote(kind)}: expected "Job", "Policy" or "Provider"${didYouMean(kind, KINDS)}`,
    });
  }
  if (!validate(obj)) issues.push(...translateErrors(validate.errors ?? []));
  issues.push(...nulIssues(obj));
  if (issues.length > 0) return { issues };
  const doc = obj as unknown as AnyDocument;
  if (doc.kind === "Job") issues.push(...jobRules(doc));
  return issues.length > 0 ? { issues } : { doc, issues };
}

/** Rules across fields, checked once the shapes are known to be right. */
function jobRules(job: JobDocument): Issue[] {
  const issues: Issue[] = [];
  const r = job.spec.retries;
  if (r?.backoff !== undefined && r.maxBackoff !== undefined && parseDuration(r.maxBackoff) < parseDuration(r.backoff)) {
    issues.push({
      pointer: "/spec/retries/maxBackoff",
      at: "value",
      message: `maxBackoff (${r.maxBackoff}) must not be shorter than backoff (${r.backoff})`,
    });
  }
  const t = job.spec.triggers;
  if (t?.push) issues.push(...filterRules("push", t.push as FilterLists, ["branches", "tags", "paths"]));
  if (t?.pullRequest) issues.push(...filterRules("pullRequest", t.pullRequest as FilterLists, ["branches", "paths"]));
  return issues;
}

type FilterLists = Partial<Record<string, string[]>>;

/**
 * GitHub Actions' rules for one event's filters: `branches` and
 * `branchesIgnore` (likewise tags, paths) cannot both be used, and a list
 * of only `!` patterns includes nothing (use the Ignore list for that).
 */
function filterRules(event: "push" | "pullRequest", lists: FilterLists, kinds: readonly string[]): Issue[] {
  const issues: Issue[] = [];
  const base = `/spec/triggers/${event}`;
  for (const kind of kinds) {
    const ignore = `${kind}Ignore`;
    const include = lists[kind];
    if (include !== undefined && lists[ignore] !== undefined) {
      issues.push({
        pointer: `${base}/${ignore}`,
        at: "key",
        message: `\`${kind}\` and \`${ignore}\` cannot both be used for ${event} (as in GitHub Actions): keep \`${kind}\` and exclude with a leading "!" pattern`,
      });
    }
    if (include !== undefined && include.every((p) => p.startsWith("!"))) {
      issues.push({
        pointer: `${base}/${kind}`,
        at: "key",
        message: `every pattern in \`${kind}\` starts with "!", so nothing is included: add a pattern that includes first (e.g. "**"), or list the exclusions without "!" in \`${ignore}\``,
      });
    }
  }
  return issues;
}
