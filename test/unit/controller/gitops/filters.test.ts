/**
 * Filter patterns and lists with GitHub Actions' semantics. The first two
 * tables are GitHub's own "Filter pattern cheat sheet" (Workflow syntax for
 * GitHub Actions, https://docs.github.com/en/actions/reference/workflows-and-actions/workflow-syntax#filter-pattern-cheat-sheet):
 * "Patterns to match branches and tags" and "Patterns to match file paths",
 * each pattern with the example matches the page lists; the non-matches
 * follow from the descriptions on that page.
 */
import { describe, expect, it } from "vitest";
import { compilePattern, filterName, filterPaths, isIgnored, isIncluded, lastMatch } from "../../../../controller/gitops/filters.js";
import { parseFilterPattern } from "../../../../schemas/filter-pattern.js";

type Row = [patterns: string[], matches: string[], nonMatches: string[]];

// Patterns to match branches and tags.
const BRANCHES_AND_TAGS: Row[] = [
  [["feature/*"], ["feature/my-branch", "feature/your-branch"], ["feature/beta-a/my-branch", "feature", "features/x"]],
  [["feature/**"], ["feature/beta-a/my-branch", "feature/your-branch", "feature/mona/the/octocat"], ["feature", "main"]],
  [["main", "releases/mona-the-octocat"], ["main", "releases/mona-the-octocat"], ["main2", "releases/mona", "xmain"]],
  [["*"], ["main", "releases"], ["releases/10", "feature/x"]],
  [["**"], ["all/the/branches", "every/tag"], []],
  [["*feature"], ["mona-feature", "feature", "ver-10-feature"], ["feature-x", "mona/feature"]],
  [["v2*"], ["v2", "v2.0", "v2.9"], ["v1", "v2/x", "xv2"]],
  [["v[12].[0-9]+.[0-9]+"], ["v1.10.1", "v2.0.0"], ["v3.0.0", "v1.x.1", "v1.0", "v1.0.0-rc1", "v12.0.0"]],
];

// Patterns to match file paths.
const PATHS: Row[] = [
  [["*"], ["README.md", "server.rb"], ["docs/README.md"]],
  [["*.jsx?"], ["page.js", "page.jsx"], ["page.jsxx", "page.ts", "src/page.js"]],
  [["**"], ["all/the/files.md"], []],
  [["*.js"], ["app.js", "index.js"], ["js/index.js", "app.jsx"]],
  [["**.js"], ["index.js", "js/index.js", "src/js/app.js"], ["index.ts"]],
  [["docs/*"], ["docs/README.md", "docs/file.txt"], ["docs/mona/octocat.txt", "README.md"]],
  [["docs/**"], ["docs/README.md", "docs/mona/octocat.txt"], ["src/docs/a.md", "docs"]],
  [["docs/**/*.md"], ["docs/README.md", "docs/mona/hello-world.md", "docs/a/markdown/file.md"], ["docs/a.txt", "src/docs/a.md"]],
  [["**/docs/**"], ["docs/hello.md", "dir/docs/my-file.txt", "space/docs/plan/space.doc"], ["mydocs/a.md", "docs"]],
  [["**/README.md"], ["README.md", "js/README.md"], ["README.mdx", "js/NOT-README.md"]],
  [["**/*src/**"], ["a/src/app.js", "my-src/code/js/app.js"], ["src", "a/source/app.js"]],
  [["**/*-post.md"], ["my-post.md", "path/their-post.md"], ["post.md", "path/post.md"]],
  [["**/migrate-*.sql"], ["migrate-10909.sql", "db/migrate-v1.0.sql", "db/sept/migrate-v1.sql"], ["db/migrate.sql", "migrate-1.sql.bak"]],
  // "Using an exclamation mark (!) in front of a pattern negates it."
  [["*.md", "!README.md"], ["hello.md"], ["README.md", "docs/hello.md"]],
  // "Patterns are checked sequentially. A pattern that negates a previous pattern will re-include file paths."
  [["*.md", "!README.md", "README*"], ["hello.md", "README.md", "README.doc"], ["docs/hello.md"]],
];

describe("GitHub's filter pattern cheat sheet", () => {
  describe.each([
    ["branches and tags", BRANCHES_AND_TAGS],
    ["file paths", PATHS],
  ] as const)("patterns to match %s", (_name, rows) => {
    it.each(rows.map(([patterns, matches, nonMatches]) => [patterns.join(", "), patterns, matches, nonMatches] as const))("%s", (_p, patterns, matches, nonMatches) => {
      for (const m of matches) expect(isIncluded(patterns, m), `${m} should match`).toBe(true);
      for (const n of nonMatches) expect(isIncluded(patterns, n), `${n} should not match`).toBe(false);
    });
  });
});

describe("one pattern", () => {
  it.each([
    // ? and + repeat the character (or [class]) before them; this is where minimatch and picomatch differ.
    ["colou?r", ["color", "colour"], ["colouur", "colxr"]],
    ["a+b", ["ab", "aab", "aaab"], ["b", "a+b"]],
    ["v[0-9]+", ["v1", "v10", "v123"], ["v", "v1a"]],
    ["[CB]at", ["Cat", "Bat"], ["cat", "Hat", "CBat"]],
    ["[1-2]00", ["100", "200"], ["300", "00"]],
    ["[0-9a-f]", ["7", "c"], ["g", "F"]],
    // . is itself, not "any character".
    ["a.b", ["a.b"], ["axb"]],
    // A backslash makes the next character literal.
    ["c\\+\\+", ["c++"], ["cc", "c"]],
    ["\\!important", ["!important"], ["important"]],
    ["what\\?", ["what?"], ["what", "wha"]],
    ["a\\*b", ["a*b"], ["axb"]],
    ["a\\\\b", ["a\\b"], ["ab"]],
    // Regular-expression characters have no meaning of their own.
    ["(a|b)", ["(a|b)"], ["a"]],
    ["^x$", ["^x$"], ["x"]],
    // Whole names only, never a part.
    ["main", ["main"], ["main/x", "x/main", "maint"]],
    // ** matches across /, and **/ may match nothing.
    ["a/**/b", ["a/b", "a/x/b", "a/x/y/b"], ["a/xb", "b"]],
    // Unicode names: one character is one code point.
    ["caf?é", ["café", "caé"], ["caffé"]],
    ["é+", ["é", "éé"], [""]],
  ] as const)("%s", (pattern, matches, nonMatches) => {
    const { regex } = compilePattern(pattern);
    for (const m of matches) expect(regex.test(m), `${m} should match`).toBe(true);
    for (const n of nonMatches) expect(regex.test(n), `${n} should not match`).toBe(false);
  });

  it("a leading ! negates; elsewhere it is an ordinary character", () => {
    expect(parseFilterPattern("!docs/**")).toMatchObject({ source: "!docs/**", negated: true });
    expect(parseFilterPattern("a!b")).toMatchObject({ negated: false });
    expect(parseFilterPattern("a!b").regex.test("a!b")).toBe(true);
  });

  it.each([
    ["+main", "`+` repeats the character before it, and here it follows nothing"],
    ["?x", "`?` repeats the character before it, and here it follows nothing"],
    ["*+", "follows a wildcard"],
    ["**?", "follows a wildcard"],
    ["a++", "follows another `?` or `+`"],
    ["a?+", "follows another `?` or `+`"],
    ["[", "`[` without a closing `]`"],
    ["v[0-9", "`[` without a closing `]`"],
    ["[]", "empty brackets `[]`"],
    ["[a-]", 'invalid range "a-": a range needs an end'],
    ["[z-a]", 'invalid range "z-a"'],
    ["[a-Z]", 'invalid range "a-Z"'],
    ["[0-z]", 'invalid range "0-z"'],
    ["[._-]", 'brackets hold only letters, digits and ranges (a-z, A-Z, 0-9), not "."'],
    ["[!a]", 'not "!"'],
    ["x\\", "`\\` at the end escapes nothing"],
    ["!", "nothing after `!`"],
  ])("refuses %s", (pattern, message) => {
    expect(() => parseFilterPattern(pattern)).toThrow(message);
    expect(() => parseFilterPattern(pattern)).toThrow(`invalid pattern ${JSON.stringify(pattern)}: `);
  });
});

describe("lists: in order, the last matching pattern decides", () => {
  const releases = ["releases/**", "!releases/**-alpha"]; // GitHub's example for on.push.branches
  it.each([
    [releases, "releases/10", true],
    [releases, "releases/beta/mona", true],
    [releases, "releases/10-alpha", false],
    [releases, "releases/beta/3-alpha", false],
    [releases, "main", false],
    // A positive pattern after a negative match takes the name back in.
    [["releases/**", "!releases/**-alpha", "releases/keep-alpha"], "releases/keep-alpha", true],
    // Order matters: the same patterns the other way round include everything under releases/.
    [["!releases/**-alpha", "releases/**"], "releases/10-alpha", true],
  ] as const)("%j on %s → %s", (patterns, name, included) => {
    expect(isIncluded(patterns, name)).toBe(included);
  });

  it("lastMatch names the deciding pattern, or nothing", () => {
    expect(lastMatch(releases, "releases/10-alpha")?.source).toBe("!releases/**-alpha");
    expect(lastMatch(releases, "releases/10")?.source).toBe("releases/**");
    expect(lastMatch(releases, "main")).toBeUndefined();
  });

  it("in an ignore list a match leaves out, and a later ! match takes back in", () => {
    const ignore = ["dependabot/**", "!dependabot/keep"];
    expect(isIgnored(ignore, "dependabot/npm/x")).toBe(true);
    expect(isIgnored(ignore, "dependabot/keep")).toBe(false);
    expect(isIgnored(ignore, "main")).toBe(false);
  });
});

describe("filterName", () => {
  it.each([
    [["main"], undefined, "main", true, "branch 'main' matched 'main'"],
    [["main", "release/*"], undefined, "dev", false, "branch 'dev' matched none of branches ['main', 'release/*']"],
    [["release/**", "!release/**-rc"], undefined, "release/1-rc", false, "branch 'release/1-rc' excluded by '!release/**-rc'"],
    [undefined, ["wip/**"], "wip/x", false, "branch 'wip/x' ignored by 'wip/**' in branchesIgnore"],
    [undefined, ["wip/**"], "main", true, "branch 'main' matched none of branchesIgnore ['wip/**']"],
    [undefined, ["wip/**", "!wip/ship-it"], "wip/ship-it", true, "branch 'wip/ship-it' taken back in by '!wip/ship-it' in branchesIgnore"],
    [undefined, undefined, "anything", true, "any branch"],
  ] as const)("%j / ignore %j on %s", (include, ignore, name, pass, reason) => {
    expect(filterName("branch", name, "branches", include, ignore)).toEqual({ pass, reason });
  });
});

describe("filterPaths: at least one changed file must get through", () => {
  it.each([
    [["a.txt", "src/x.ts"], ["src/**"], undefined, true, "path 'src/x.ts' matched 'src/**'"],
    [["docs/a.md"], ["src/**"], undefined, false, "no changed file matched paths ['src/**']"],
    [["docs/a.md"], ["**", "!docs/**"], undefined, false, "no changed file matched paths ['**', '!docs/**']; path 'docs/a.md' excluded by '!docs/**'"],
    [["docs/a.md", "docs/b.md", "docs/c.md", "docs/d.md"], ["**", "!docs/**"], undefined, false, "no changed file matched paths ['**', '!docs/**']; path 'docs/a.md' excluded by '!docs/**', path 'docs/b.md' excluded by '!docs/**', path 'docs/c.md' excluded by '!docs/**' and 1 more"],
    [["docs/a.md", "src/b.ts"], ["**", "!docs/**"], undefined, true, "path 'src/b.ts' matched '**'"],
    [["docs/a.md"], undefined, ["docs/**"], false, "every changed file is ignored by pathsIgnore: 'docs/a.md' by 'docs/**'"],
    [["docs/a.md", "src/b.ts"], undefined, ["docs/**"], true, "path 'src/b.ts' matched none of pathsIgnore ['docs/**']"],
    [["docs/api.md"], undefined, ["docs/**", "!docs/api.md"], true, "path 'docs/api.md' taken back in by '!docs/api.md' in pathsIgnore"],
    // GitHub: "If there are no files changed, the workflow will not run."
    [[], ["**"], undefined, false, "no files changed, so the paths filter cannot match"],
    [[], undefined, ["docs/**"], false, "no files changed, so the paths filter cannot match"],
    [[], undefined, undefined, true, "any change"],
  ] as const)("%j against paths %j / pathsIgnore %j", (files, include, ignore, pass, reason) => {
    expect(filterPaths(files, include, ignore)).toEqual({ pass, reason });
  });
});
