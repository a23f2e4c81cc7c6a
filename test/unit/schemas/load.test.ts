import { mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import {
  formatSpecError,
  jobs,
  loadFile,
  loadPaths,
  loadText,
  MAX_FILE_BYTES,
  validateDocument,
  type JobDocument,
} from "../../../schemas/load.js";

const here = dirname(fileURLToPath(import.meta.url));
const fixtures = join(here, "../../fixtures/specs");
const repoRoot = join(here, "../../..");
const fixture = (rel: string): string => readFileSync(join(fixtures, rel), "utf8");
const job = (name: string, extra = ""): string =>
  `apiVersion: hodei.dev/v1\nkind: Job\nmetadata: { name: ${name} }\nspec:\n  run: echo ${name}\n${extra}`;

const tmp = mkdtempSync(join(tmpdir(), "hodei-specs-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
const write = (rel: string, text: string): string => {
  const p = join(tmp, rel);
  mkdirSync(dirname(p), { recursive: true });
  writeFileSync(p, text);
  return p;
};

describe("loadText", () => {
  it("keeps the good documents around a bad one", () => {
    const r = loadText(fixture("invalid/08_multi_document.yaml"), "multi.yaml");
    expect(r.documents.map((d) => [d.name, d.line])).toEqual([
      ["first", 2],
      ["third", 14],
    ]);
    expect(r.errors).toHaveLength(1);
    expect(r.errors[0]).toMatchObject({ file: "multi.yaml", line: 12, col: 12, pointer: "/spec/timeout" });
    expect(r.files).toEqual(["multi.yaml"]);
  });

  it("keeps the good documents around YAML syntax errors, alias bombs and non-objects", () => {
    const names = (rel: string): string[] => loadText(fixture(rel), rel).documents.map((d) => d.name);
    expect(names("invalid/09_yaml_syntax.yaml")).toEqual(["fine-before", "fine-after"]);
    expect(names("invalid/10_alias_bomb.yaml")).toEqual(["after-the-bomb"]);
    expect(names("invalid/11_non_object.yaml")).toEqual(["the-real-one"]);
    expect(names("invalid/12_duplicate_names.yaml")).toEqual(["build", "build"]); // a Job and a Provider
  });

  it("refuses an alias bomb quickly", () => {
    const started = Date.now();
    const r = loadText(fixture("invalid/10_alias_bomb.yaml"), "bomb.yaml");
    expect(Date.now() - started).toBeLessThan(2000);
    expect(r.errors.map((e) => e.message)).toEqual([expect.stringContaining("too many alias expansions")]);
  });

  it("survives absurd nesting, one input after another", () => {
    // Regression: a stack overflow inside yaml once made the next parse abort the process.
    const inputs = ["[".repeat(200_000), `a:\n${"- ".repeat(100_000)}x`, "{a: ".repeat(50_000), "a: [1\nb: ]\nc: {\n".repeat(30)];
    const messages = inputs.map((t) => loadText(t, "deep.yaml").errors.map((e) => e.message));
    expect(messages.slice(0, 3)).toEqual([["nested too deeply (more than 64 levels)"], ["nested too deeply (more than 64 levels)"], ["nested too deeply (more than 64 levels)"]]);
    expect(messages[3]).toHaveLength(11); // ten YAML errors, then a count of the rest
    expect(messages[3]?.at(-1)).toMatch(/^\d+ more YAML errors in this document not shown$/);
  });

  it("shows at most 100 errors per document, 10 YAML errors per document and 1000 per file", () => {
    const fields = Array.from({ length: 150 }, (_, i) => `  field${i}: x`).join("\n");
    const many = loadText(job("many", fields), "many.yaml").errors;
    expect(many).toHaveLength(101);
    expect(many.at(-1)).toMatchObject({ line: many.at(-2)?.line, message: "50 more errors in this document not shown", pointer: "" });
    const dups = loadText(Array.from({ length: 15 }, () => "k: v").join("\n"), "dups.yaml").errors;
    expect(dups.map((e) => e.message)).toEqual([...Array<string>(10).fill('duplicate key "k": keys in a mapping must be unique'), "4 more YAML errors in this document not shown"]);
    const docs = loadText("---\na\n".repeat(1500), "docs.yaml").errors;
    expect(docs).toHaveLength(1001);
    expect(docs.at(-1)?.message).toBe("500 more errors in this file not shown");
  });

  it("refuses aliases that multiply data beyond a million values", () => {
    const big = Array.from({ length: 2000 }, (_, i) => `k${i}: v`).join(", ");
    const refs = Array.from({ length: 600 }, () => "*a").join(", ");
    const text = `apiVersion: hodei.dev/v1\nkind: Provider\nmetadata: {name: p}\nspec:\n  type: local\n  config:\n    a: &a {${big}}\n    list: [${refs}]\n`;
    expect(loadText(text, "amp.yaml").errors.map(formatSpecError)).toEqual(["amp.yaml:1:1: the document expands to more than 1000000 values through aliases"]);
  });

  it("resolves anchors, aliases and merge keys", () => {
    const r = loadText(fixture("valid/anchors-and-merge.yaml"), "a.yaml");
    expect(r.errors).toEqual([]);
    const [build, test, lint] = jobs(r) as [JobDocument, JobDocument, JobDocument];
    expect(build.spec.selector).toEqual({ team: "platform", lang: "go" });
    // Aliased objects are copies: changing one job cannot change another place.
    expect(build.spec.selector).not.toBe(build.metadata.labels);
    expect(test.spec).toMatchObject({ timeout: "20m", selector: { os: "linux" }, env: { GOFLAGS: "-mod=mod", CGO_ENABLED: "1" } });
    expect(lint.spec.env).toEqual({ A: "1", B: "2", SHARED: "from-a" });
  });

  it("fills in defaults", () => {
    const [j] = jobs(loadText(job("a"), "a.yaml"));
    expect(j?.spec.priority).toBe(0);
    const [k] = jobs(loadText(job("b", "  priority: 7\n"), "b.yaml"));
    expect(k?.spec.priority).toBe(7);
  });

  it("ignores empty files and documents", () => {
    for (const text of ["", "\n\n", "# only a comment\n", "---\n---\n", "~\n", "---\n# x\n...\n"]) {
      expect(loadText(text, "e.yaml")).toEqual({ documents: [], errors: [], files: ["e.yaml"] });
    }
  });

  it("reads Windows line endings and a byte order mark", () => {
    const r = loadText("\uFEFF" + job("crlf", "  tiemout: 5s\n").replace(/\n/g, "\r\n"), "w.yaml");
    expect(r.errors.map(formatSpecError)).toEqual(['w.yaml:6:3: unknown field "tiemout" (did you mean "timeout"?) (at /spec/tiemout)']);
  });

  it("refuses text over 1 MiB", () => {
    const big = job("big") + `# ${"x".repeat(MAX_FILE_BYTES)}\n`;
    const r = loadText(big, "big.yaml");
    expect(r.documents).toEqual([]);
    expect(r.errors).toEqual([{ file: "big.yaml", line: 0, col: 0, pointer: "", message: "file is too large (1.01 MiB); the limit is 1 MiB" }]);
  });

  it("accepts text of exactly 1 MiB", () => {
    const text = job("edge");
    const padded = text + "#".repeat(MAX_FILE_BYTES - Buffer.byteLength(text));
    expect(loadText(padded, "edge.yaml").documents).toHaveLength(1);
  });

  it("tells a document's kind and name", () => {
    const r = loadText(fixture("valid/providers.yaml") + "---\n" + fixture("valid/policy.yaml"), "mixed.yaml");
    expect(r.documents.map((d) => `${d.kind}/${d.name}`)).toEqual(["Provider/local", "Provider/k8s-gpu", "Policy/default-limits"]);
    expect(jobs(r)).toEqual([]);
  });
});

describe("loadFile", () => {
  it("loads a file and names it in errors", async () => {
    const p = write("one.yaml", job("one", "  timeout: 10x\n"));
    const r = await loadFile(p);
    expect(r.files).toEqual([p]);
    expect(r.errors.map(formatSpecError)).toEqual([
      `${p}:6:12: invalid duration "10x": expected a number followed by ms, s, m, h or d, e.g. "90s" or "1h30m" (at /spec/timeout)`,
    ]);
  });

  it("refuses a file over 1 MiB without reading it", async () => {
    const p = write("huge.yaml", job("huge") + "#".repeat(MAX_FILE_BYTES * 2));
    const r = await loadFile(p);
    expect(r).toEqual({ documents: [], files: [], errors: [{ file: p, line: 0, col: 0, pointer: "", message: "file is too large (2.01 MiB); the limit is 1 MiB" }] });
  });

  it("reports a missing file or a folder as an error entry", async () => {
    const missing = join(tmp, "nope.yaml");
    expect((await loadFile(missing)).errors).toEqual([{ file: missing, line: 0, col: 0, pointer: "", message: "no such file or directory" }]);
    expect((await loadFile(tmp)).errors.map((e) => e.message)).toEqual(["is a directory"]);
  });
});

describe("loadPaths", () => {
  const repo = join(tmp, "repo");
  write("repo/.hodei/jobs/b.yaml", job("b"));
  write("repo/.hodei/a.yml", job("a"));
  write("repo/.hodei/nested/deep/c.yaml", job("c"));
  write("repo/.hodei/README.md", "not yaml");
  write("repo/.hodei/.hidden.yaml", "this: is ignored");
  write("repo/docker-compose.yaml", "services: {}"); // outside .hodei: never read
  write("plain/x.yaml", job("x"));
  write("plain/jobs/y.yaml", job("y"));
  write("plain/other/z.yaml", job("z")); // not at the top or in jobs/
  mkdirSync(join(tmp, "empty"), { recursive: true });
  const expectedRepoFiles = [".hodei/a.yml", ".hodei/jobs/b.yaml", ".hodei/nested/deep/c.yaml"].map((f) => join(repo, f));

  it("reads .hodei/**/*.yaml and .yml of a folder, sorted", async () => {
    const r = await loadPaths([repo]);
    expect(r.files).toEqual(expectedRepoFiles);
    expect(r.errors).toEqual([]);
    expect(r.documents.map((d) => d.name)).toEqual(["a", "b", "c"]);
  });

  it("reads everything under a folder named .hodei", async () => {
    expect((await loadPaths([join(repo, ".hodei")])).files).toEqual(expectedRepoFiles);
  });

  it("reads YAML directly in a folder and in its jobs/", async () => {
    const r = await loadPaths([join(tmp, "plain")]);
    expect(r.files).toEqual([join(tmp, "plain/x.yaml"), join(tmp, "plain/jobs/y.yaml")]);
  });

  it("finds nothing in a folder without YAML, without an error", async () => {
    expect(await loadPaths([join(tmp, "empty")])).toEqual({ documents: [], errors: [], files: [] });
  });

  it("reports a missing path and still loads the rest", async () => {
    const missing = join(tmp, "missing");
    const r = await loadPaths([missing, repo]);
    expect(r.errors).toEqual([{ file: missing, line: 0, col: 0, pointer: "", message: "no such file or directory" }]);
    expect(r.documents).toHaveLength(3);
  });

  it("reads a file given twice once", async () => {
    const f = join(repo, ".hodei/a.yml");
    const r = await loadPaths([f, repo, f]);
    expect(r.files).toEqual(expectedRepoFiles);
    expect(r.errors).toEqual([]);
  });

  it("reports a job name defined in two files on the second", async () => {
    const first = write("dups/1.yaml", job("same"));
    const second = write("dups/2.yaml", `# comment\n${job("same")}`);
    const r = await loadPaths([join(tmp, "dups")]);
    expect(r.documents.map((d) => d.file)).toEqual([first]);
    expect(r.errors.map(formatSpecError)).toEqual([`${second}:4:19: duplicate job name "same": already defined in ${first}:3:19 (at /metadata/name)`]);
  });

  it("reads an explicit file whatever its extension", async () => {
    const p = write("job.txt", job("txt"));
    expect((await loadPaths([p])).documents.map((d) => d.name)).toEqual(["txt"]);
  });

  it("validates the examples", async () => {
    const r = await loadPaths([join(repoRoot, "examples/hello")]);
    expect(r.errors.map(formatSpecError)).toEqual([]);
    expect(r.documents.map((d) => d.name)).toEqual(["command", "fail", "hello", "progress"]);
    const byName = Object.fromEntries(jobs(r).map((j) => [j.metadata.name, j.spec]));
    expect(byName["command"]?.command?.[0]).toBe("node");
    expect(byName["fail"]?.run).toContain("exit 3");
    expect(byName["hello"]?.env).toBeDefined();
    expect(byName["progress"]?.run).toContain("\\r");
  });
});

describe("validateDocument", () => {
  const valid = { apiVersion: "hodei.dev/v1", kind: "Job", metadata: { name: "api" }, spec: { command: ["true"] } };

  it("returns the document with defaults, leaving the input alone", () => {
    const input = structuredClone(valid);
    const { doc, errors } = validateDocument(input);
    expect(errors).toEqual([]);
    expect(doc).toEqual({ ...valid, spec: { command: ["true"], priority: 0 } });
    expect(input).toEqual(valid);
  });

  it("reports errors with no position", () => {
    const { doc, errors } = validateDocument({ ...valid, spec: { run: 5, tiemout: "5s" } });
    expect(doc).toBeUndefined();
    expect(errors.map(formatSpecError)).toEqual([
      '<input>: unknown field "tiemout" (did you mean "timeout"?) (at /spec/tiemout)',
      "<input>: expected a string, got a number (put it in quotes to make it a string: \"5\") (at /spec/run)",
    ]);
    expect(errors[0]).toEqual({ file: "<input>", line: 0, col: 0, pointer: "/spec/tiemout", message: expect.any(String) });
  });

  it("uses the file name it is given", () => {
    expect(validateDocument({}, "submitted.json").errors.map(formatSpecError)).toEqual([
      'submitted.json: missing required fields "apiVersion", "kind", "metadata" and "spec"',
    ]);
  });

  it("rejects what is not a mapping", () => {
    for (const v of [null, undefined, 3, "job", [valid]]) {
      expect(validateDocument(v).errors).toHaveLength(1);
    }
    expect(validateDocument(() => 1).errors[0]?.message).toContain("plain data");
  });

  it("checks backoff against maxBackoff", () => {
    const { errors } = validateDocument({ ...valid, spec: { run: "x", retries: { limit: 1, backoff: "1m", maxBackoff: "30s" } } });
    expect(errors.map((e) => `${e.pointer}: ${e.message}`)).toEqual(["/spec/retries/maxBackoff: maxBackoff (30s) must not be shorter than backoff (1m)"]);
  });
});

describe("formatSpecError", () => {
  it("writes FILE:LINE:COL: message (at /pointer)", () => {
    expect(formatSpecError({ file: "a.yaml", line: 3, col: 7, pointer: "/spec/env/A~1B", message: "bad" })).toBe("a.yaml:3:7: bad (at /spec/env/A~1B)");
  });
  it("leaves out a missing position and the root pointer", () => {
    expect(formatSpecError({ file: "a.yaml", line: 0, col: 0, pointer: "", message: "too large" })).toBe("a.yaml: too large");
    expect(formatSpecError({ file: "a.yaml", line: 1, col: 1, pointer: "", message: "not a mapping" })).toBe("a.yaml:1:1: not a mapping");
  });
});
