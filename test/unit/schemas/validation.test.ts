/**
 * Validation defects found by hostile input (issue 6, item 11), each pinned
 * by the input that showed it: the loader and validateDocument must refuse
 * them with a precise message, never pass them on to fail later (in
 * PostgreSQL, at spawn) or print them back whole.
 */
import { describe, expect, it } from "vitest";
import { formatSpecError, jobs, loadText, MAX_DEPTH, validateDocument } from "../../../schemas/load.js";

const job = (spec: string, name = "nul"): string => `apiVersion: hodei.dev/v1
kind: Job
metadata: { name: ${name} }
spec:
${spec}
`;

const doc = (spec: Record<string, unknown>, name = "nul") => ({ apiVersion: "hodei.dev/v1", kind: "Job", metadata: { name }, spec });

describe("a NUL character", () => {
  // JSON can carry \u0000, PostgreSQL's jsonb cannot store it and a process cannot receive it.
  it.each([
    ["an env value", `  run: "true"\n  env: { A: "x\\0y" }`, "6:13", "/spec/env/A", "environment variable value"],
    ["an argument", `  command: ["echo", "a\\0b"]`, "5:21", "/spec/command/1", "argument"],
    ["the script", `  run: "echo 1\\0"`, "5:8", "/spec/run", "script"],
  ])("in %s is refused at its line, column and pointer", (_, spec, at, pointer, what) => {
    const r = loadText(job(spec), "nul.yaml");
    expect(jobs(r)).toEqual([]);
    expect(r.errors.map(formatSpecError)).toEqual([`nul.yaml:${at}: ${what} must not contain a NUL character (\\0) (at ${pointer})`]);
  });

  it("anywhere else too (keys, labels, any string), also in JSON sent to the API", () => {
    const r = validateDocument({ ...doc({ run: "true", selector: { os: "linux\0" } }), metadata: { name: "nul", annotations: { "a\0b": "x" } } });
    expect(r.doc).toBeUndefined();
    expect(r.errors.map((e) => [e.pointer, e.message])).toEqual([
      ["/metadata/annotations/a\0b", "key must not contain a NUL character (\\0)"],
      ["/spec/selector/os", "value must not contain a NUL character (\\0)"],
    ]);
  });
});

describe("command", () => {
  it('refuses an empty program name (command: [""] would fail at spawn)', () => {
    const r = loadText(job(`  command: ["", "arg"]`), "empty.yaml");
    expect(r.errors.map(formatSpecError)).toEqual(['empty.yaml:5:13: the program (command[0]) must not be empty (at /spec/command/0)']);
  });

  it("still takes empty arguments after the program", () => {
    const r = loadText(job(`  command: ["printf", "%s", ""]`), "args.yaml");
    expect(r.errors).toEqual([]);
    expect(jobs(r)[0]?.spec.command).toEqual(["printf", "%s", ""]);
  });
});

describe("the 1 MiB limit", () => {
  it("counts bytes, not characters", () => {
    // 600 000 characters, 1 200 000 bytes in UTF-8.
    const r = loadText(job(`  run: "${"é".repeat(600_000)}"`), "wide.yaml");
    expect(r.errors.map(formatSpecError)).toEqual(["wide.yaml: file is too large (1.15 MiB); the limit is 1 MiB"]);
  });
});

describe("values quoted in messages", () => {
  it("are cut to a readable length, saying how long they were", () => {
    const name = "a".repeat(10_000) + "_";
    const r = loadText(job(`  run: "true"`, name), "long.yaml");
    expect(r.errors).toHaveLength(1);
    const message = r.errors[0]!.message;
    expect(message.length).toBeLessThan(300);
    expect(message).toMatch(/^invalid name "a{60,80}…" \(10001 characters\): use 1 to 63 lowercase letters/);
  });

  it("are shown whole when short", () => {
    const r = loadText(job(`  run: "true"\n  timeout: "10x"`), "short.yaml");
    expect(r.errors[0]?.message).toContain('invalid duration "10x": expected');
  });
});

describe("nesting", () => {
  const nested = (levels: number): unknown => {
    let v: unknown = "deep";
    for (let i = 0; i < levels; i++) v = { a: v };
    return v;
  };

  it("a JSON document 5000 levels deep is refused as nested too deeply", () => {
    const r = validateDocument(doc({ run: "true", env: nested(5000) }), "<submitted>");
    expect(r.doc).toBeUndefined();
    expect(r.errors.map(formatSpecError)).toEqual([`<submitted>: nested too deeply (more than ${MAX_DEPTH} levels) (at /spec/env${"/a".repeat(MAX_DEPTH - 1)})`]);
  });

  it("as deep as the YAML loader allows is still just validated", () => {
    const r = validateDocument(doc({ run: "true", env: nested(MAX_DEPTH - 2) }));
    expect(r.errors.map((e) => e.message)).toEqual(["expected a string, got a mapping"]);
  });
});
