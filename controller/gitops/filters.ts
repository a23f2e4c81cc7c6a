/**
 * Lists of filter patterns, evaluated as GitHub Actions evaluates `branches`,
 * `tags`, `paths` and their `-ignore` lists ("Workflow syntax for GitHub
 * Actions", on.push.<branches|tags> and on.<push|pull_request>.paths):
 *
 * - Patterns are checked in order and the last one that matches decides: a
 *   matching `!` pattern after a positive match excludes, a matching
 *   positive pattern after a negative match includes again.
 * - An include list (`branches`) lets a name through when its deciding
 *   pattern is positive; nothing matching means it is not included.
 * - An ignore list (`branchesIgnore`) leaves a name out when its deciding
 *   pattern is positive; a `!` pattern there takes it back in.
 * - A paths filter passes when at least one changed file is included (or,
 *   for `pathsIgnore`, not ignored). No changed files: it does not pass.
 *
 * One pattern's grammar (`*`, `**`, `?`, `+`, `[]`, `\`) is compiled by
 * schemas/filter-pattern.ts, which validation uses too, so a pattern that
 * loaded always compiles here. Pure functions: no I/O, no clock.
 *
 * Every verdict carries a reason naming the value and the pattern that
 * decided, as `hodei jobs match` prints it.
 */
import { parseFilterPattern, type FilterPattern } from "../../schemas/filter-pattern.js";

export type { FilterPattern } from "../../schemas/filter-pattern.js";

export interface Verdict {
  pass: boolean;
  reason: string;
}

// Patterns come from job files, so there are few distinct ones; the cap only bounds a pathological caller.
const compiled = new Map<string, FilterPattern>();
const MAX_CACHED = 10_000;

/** One pattern, compiled (throws SpecValueError for an invalid one; loaded jobs have none). */
export function compilePattern(pattern: string): FilterPattern {
  let p = compiled.get(pattern);
  if (!p) {
    p = parseFilterPattern(pattern);
    if (compiled.size >= MAX_CACHED) compiled.clear();
    compiled.set(pattern, p);
  }
  return p;
}

/** The pattern that decides for `value`: the last in the list that matches it, or undefined when none does. */
export function lastMatch(patterns: readonly string[], value: string): FilterPattern | undefined {
  let decided: FilterPattern | undefined;
  for (const source of patterns) {
    const p = compilePattern(source);
    if (p.regex.test(value)) decided = p;
  }
  return decided;
}

/** Included by an include list: its deciding pattern is positive. */
export function isIncluded(patterns: readonly string[], value: string): boolean {
  return lastMatch(patterns, value)?.negated === false;
}

/** Left out by an ignore list: its deciding pattern is positive (a `!` pattern takes it back in). */
export function isIgnored(patterns: readonly string[], value: string): boolean {
  return lastMatch(patterns, value)?.negated === false;
}

export const q = (s: string): string => `'${s}'`;
export const list = (patterns: readonly string[]): string => `[${patterns.map(q).join(", ")}]`;

/**
 * A branch or tag name against one event's include list (`field`, e.g.
 * "branches") or ignore list (`${field}Ignore`); `what` names the value in
 * the reason ("branch", "tag", "base branch"). At most one of the lists is
 * given (validation refuses both); with neither, everything passes.
 */
export function filterName(what: string, name: string, field: string, include: readonly string[] | undefined, ignore: readonly string[] | undefined): Verdict {
  if (include !== undefined) {
    const by = lastMatch(include, name);
    if (by === undefined) return { pass: false, reason: `${what} ${q(name)} matched none of ${field} ${list(include)}` };
    if (by.negated) return { pass: false, reason: `${what} ${q(name)} excluded by ${q(by.source)}` };
    return { pass: true, reason: `${what} ${q(name)} matched ${q(by.source)}` };
  }
  if (ignore !== undefined) {
    const by = lastMatch(ignore, name);
    if (by === undefined) return { pass: true, reason: `${what} ${q(name)} matched none of ${field}Ignore ${list(ignore)}` };
    if (by.negated) return { pass: true, reason: `${what} ${q(name)} taken back in by ${q(by.source)} in ${field}Ignore` };
    return { pass: false, reason: `${what} ${q(name)} ignored by ${q(by.source)} in ${field}Ignore` };
  }
  return { pass: true, reason: `any ${what}` };
}

/** How many files a reason names before "and N more". */
const NAMED = 3;

/**
 * Changed files against `paths` or `pathsIgnore` (at most one given; with
 * neither, everything passes). The reason names the first file that let the
 * job through, or why none did.
 */
export function filterPaths(files: readonly string[], include: readonly string[] | undefined, ignore: readonly string[] | undefined): Verdict {
  if (include === undefined && ignore === undefined) return { pass: true, reason: "any change" };
  if (files.length === 0) return { pass: false, reason: "no files changed, so the paths filter cannot match" };
  if (include !== undefined) {
    const excluded: string[] = [];
    for (const f of files) {
      const by = lastMatch(include, f);
      if (by !== undefined && !by.negated) return { pass: true, reason: `path ${q(f)} matched ${q(by.source)}` };
      if (by !== undefined) excluded.push(`path ${q(f)} excluded by ${q(by.source)}`);
    }
    const detail = excluded.length === 0 ? "" : `; ${named(excluded)}`;
    return { pass: false, reason: `no changed file matched paths ${list(include)}${detail}` };
  }
  const ignored: string[] = [];
  for (const f of files) {
    const by = lastMatch(ignore!, f);
    if (by === undefined) return { pass: true, reason: `path ${q(f)} matched none of pathsIgnore ${list(ignore!)}` };
    if (by.negated) return { pass: true, reason: `path ${q(f)} taken back in by ${q(by.source)} in pathsIgnore` };
    ignored.push(`${q(f)} by ${q(by.source)}`);
  }
  return { pass: false, reason: `every changed file is ignored by pathsIgnore: ${named(ignored)}` };
}

function named(items: readonly string[]): string {
  const shown = items.slice(0, NAMED).join(", ");
  return items.length > NAMED ? `${shown} and ${items.length - NAMED} more` : shown;
}
