/**
 * Durations and sizes in specs, against the shared table
 * (test/fixtures/grammar.ts): the parser, the loader (a value in a real
 * document, placed and reported once), and the JSON Schema `pattern`
 * published for editors, which must accept exactly the same syntax.
 */
import { Ajv2020 } from "ajv/dist/2020.js";
import { describe, expect, it } from "vitest";
import { DURATION_PATTERN, parseDuration, parseSize, SIZE_PATTERN } from "../../../schemas/durations.js";
import { jobs, loadText } from "../../../schemas/load.js";
import jobSchema from "../../../schemas/job.schema.json" with { type: "json" };
import policySchema from "../../../schemas/policy.schema.json" with { type: "json" };
import providerSchema from "../../../schemas/provider.schema.json" with { type: "json" };
import { accepts, DURATIONS, SIZES, type GrammarRow } from "../../fixtures/grammar.js";

const jobWith = (field: string): string => `apiVersion: hodei.dev/v1
kind: Job
metadata: { name: grammar }
spec:
  run: "true"
${field}
`;

const GRAMMARS = [
  { what: "duration", rows: DURATIONS, parse: parseDuration, pattern: DURATION_PATTERN, field: (v: string) => `  killGrace: ${JSON.stringify(v)}`, pointer: "/spec/killGrace", read: (spec: Record<string, unknown>) => spec["killGrace"] },
  { what: "size", rows: SIZES, parse: parseSize, pattern: SIZE_PATTERN, field: (v: string) => `  resources: { memory: ${JSON.stringify(v)} }`, pointer: "/spec/resources/memory", read: (spec: Record<string, unknown>) => (spec["resources"] as Record<string, unknown>)["memory"] },
];

// What an editor does with the published schemas: structure and patterns, no Hodei formats.
const editor = new Ajv2020({ strict: false, validateFormats: false, allErrors: true });
const editorJob = editor.compile(jobSchema);

describe.each(GRAMMARS)("$what grammar", ({ rows, parse, pattern, field, pointer, read }) => {
  const name = (r: GrammarRow) => `${JSON.stringify(r.input)} ${accepts(r) ? `= ${r.value}` : "is refused"}`;

  it.each(rows.map((r) => [name(r), r] as const))("parser: %s", (_, row) => {
    if (accepts(row)) expect(parse(row.input)).toBe(row.value);
    else expect(() => parse(row.input)).toThrow(row.error);
  });

  it.each(rows.map((r) => [name(r), r] as const))("spec loader: %s, reported once at its line and pointer", (_, row) => {
    const r = loadText(jobWith(field(row.input)), "grammar.yaml");
    if (accepts(row)) {
      expect(r.errors).toEqual([]);
      expect(read(jobs(r)[0]!.spec as unknown as Record<string, unknown>)).toBe(row.input);
    } else {
      expect(r.errors).toHaveLength(1);
      expect(r.errors[0]).toMatchObject({ line: 6, pointer });
      expect(r.errors[0]!.message).toContain(row.error);
    }
  });

  it.each(rows.map((r) => [name(r), r] as const))("JSON Schema pattern (what editors check): %s", (_, row) => {
    const syntaxOk = accepts(row) || row.patternMatches === true;
    expect(new RegExp(pattern, "u").test(row.input)).toBe(syntaxOk);
    const doc = { apiVersion: "hodei.dev/v1", kind: "Job", metadata: { name: "grammar" }, spec: { run: "true", ...(pointer === "/spec/killGrace" ? { killGrace: row.input } : { resources: { memory: row.input } }) } };
    expect(editorJob(doc), JSON.stringify(editorJob.errors)).toBe(syntaxOk);
  });
});

describe("the schema files", () => {
  type Json = Record<string, unknown>;
  const found: string[] = [];
  const walk = (node: unknown, path: string): void => {
    if (Array.isArray(node)) return node.forEach((n, i) => walk(n, `${path}/${i}`));
    if (typeof node !== "object" || node === null) return;
    const s = node as Json;
    const want = s["format"] === "size" ? SIZE_PATTERN : s["format"] === "duration" || s["format"] === "positive-duration" ? DURATION_PATTERN : undefined;
    if (want !== undefined) found.push(`${path} ${s["pattern"] === want ? "ok" : `has pattern ${String(s["pattern"])}`}`);
    for (const [k, v] of Object.entries(s)) walk(v, `${path}/${k}`);
  };
  walk(jobSchema, "job#");
  walk(policySchema, "policy#");
  walk(providerSchema, "provider#");

  it("give every duration and size field the parser's own pattern", () => {
    expect(found.length).toBeGreaterThanOrEqual(7);
    expect(found.filter((f) => !f.endsWith(" ok"))).toEqual([]);
  });
});
