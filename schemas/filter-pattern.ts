/**
 * One filter pattern of `triggers` (branches, tags, paths and their Ignore
 * lists), compiled to a regular expression with GitHub Actions' semantics,
 * as "Workflow syntax for GitHub Actions → Filter pattern cheat sheet"
 * documents them
 * (https://docs.github.com/en/actions/reference/workflows-and-actions/workflow-syntax#filter-pattern-cheat-sheet):
 *
 *   *      zero or more characters, but not `/`
 *   **     zero or more of any character; `**` followed by `/` may also match
 *          nothing at all, so `**\/README.md` matches `README.md`
 *   ?      zero or one of the preceding character (or [class])
 *   +      one or more of the preceding character (or [class])
 *   [...]  one character listed or in a range; only letters and digits, and
 *          ranges only within a-z, A-Z or 0-9 (`[0-9a-f]`, `[CB]at`)
 *   \c     the character c itself (`\+`, `\!`, `\\`)
 *   !      first character only: the pattern excludes (see
 *          controller/gitops/filters.ts for how a list is evaluated)
 *
 * Everything else, `.` included, is itself. A pattern matches the whole name
 * or path, never a part of it.
 *
 * Why not minimatch or picomatch: there `?` is "any one character" and `+`
 * is literal (or an extglob prefix), and `**` only spans whole path
 * segments, so `v[12].[0-9]+.[0-9]+` and `*.jsx?` from GitHub's own table
 * would mean something else. The grammar is small; a hand-written compiler
 * gives exactly the documented semantics and precise error messages.
 *
 * It lives in schemas/ (which imports nothing of Hodei) because validation
 * needs it for its errors, as it needs schemas/cron.ts; the matcher in
 * controller/gitops/ uses the same compiled form.
 */
import { quote, SpecValueError } from "./errors.js";

export interface FilterPattern {
  /** The pattern as written, `!` included. */
  source: string;
  /** It started with `!`: a match excludes (in an ignore list: re-includes). */
  negated: boolean;
  regex: RegExp;
}

/** Characters with a meaning in a JavaScript regular expression (all may be escaped under the `u` flag). */
const escapeRegex = (c: string): string => (/[.*+?^${}()|[\]\\/]/.test(c) ? `\\${c}` : c);

const isAlnum = (c: string): boolean => /^[A-Za-z0-9]$/.test(c);
const sameRange = (a: string, b: string): boolean =>
  (/[a-z]/.test(a) && /[a-z]/.test(b)) || (/[A-Z]/.test(a) && /[A-Z]/.test(b)) || (/[0-9]/.test(a) && /[0-9]/.test(b));

/** Compile one pattern; throws SpecValueError saying what is wrong and where. */
export function parseFilterPattern(pattern: string): FilterPattern {
  const fail = (why: string): SpecValueError => new SpecValueError(`invalid pattern ${quote(pattern)}: ${why}`);
  const negated = pattern.startsWith("!");
  const chars = [...(negated ? pattern.slice(1) : pattern)]; // code points, so ? and + repeat a whole character
  if (chars.length === 0) throw fail("nothing after `!`");
  let re = "";
  // What the last piece was: ? and + need a character or a class before them, not a wildcard or another ? or +.
  let last: "start" | "char" | "wildcard" | "quantifier" = "start";
  for (let i = 0; i < chars.length; i++) {
    const c = chars[i]!;
    if (c === "*") {
      if (chars[i + 1] === "*") {
        if (chars[i + 2] === "/") {
          re += "(?:.+/)?";
          i += 2;
        } else {
          re += ".*";
          i += 1;
        }
      } else {
        re += "[^/]*";
      }
      last = "wildcard";
    } else if (c === "?" || c === "+") {
      if (last !== "char") {
        const what = last === "start" ? "nothing" : last === "wildcard" ? "a wildcard" : "another `?` or `+`";
        throw fail(`\`${c}\` repeats the character before it, and here it follows ${what}; write \`\\${c}\` for a literal ${c}`);
      }
      re += c;
      last = "quantifier";
    } else if (c === "[") {
      const close = chars.indexOf("]", i + 1);
      if (close === -1) throw fail("`[` without a closing `]`");
      const body = chars.slice(i + 1, close);
      if (body.length === 0) throw fail("empty brackets `[]`");
      let cls = "";
      for (let j = 0; j < body.length; j++) {
        const a = body[j]!;
        if (!isAlnum(a)) throw fail(`brackets hold only letters, digits and ranges (a-z, A-Z, 0-9), not ${quote(a)}`);
        if (body[j + 1] === "-" && j + 2 < body.length) {
          const b = body[j + 2]!;
          if (!isAlnum(b) || !sameRange(a, b) || a > b) throw fail(`invalid range ${quote(`${a}-${b}`)}: ranges go upwards within a-z, A-Z or 0-9`);
          cls += `${a}-${b}`;
          j += 2;
        } else if (body[j + 1] === "-") {
          throw fail(`invalid range ${quote(`${a}-`)}: a range needs an end`);
        } else {
          cls += a;
        }
      }
      re += `[${cls}]`;
      i = close;
      last = "char";
    } else if (c === "\\") {
      const next = chars[i + 1];
      if (next === undefined) throw fail("`\\` at the end escapes nothing");
      re += escapeRegex(next);
      i += 1;
      last = "char";
    } else {
      re += escapeRegex(c);
      last = "char";
    }
  }
  return { source: pattern, negated, regex: new RegExp(`^${re}$`, "u") };
}
