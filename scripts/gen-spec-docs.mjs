#!/usr/bin/env node
/**
 * Writes docs/spec.md from the JSON Schemas in schemas/: every field of every
 * document (Job, Policy, Provider, ControllerConfig) with its type, whether
 * it is required, its default, its allowed values and an example, and the
 * schema's own description. The schemas are the truth; this page is their
 * rendering, and test/unit/docs/generated-docs.test.ts fails when it is stale
 * (`npm run gen:docs` regenerates it together with docs/cli.md).
 *
 *   node scripts/gen-spec-docs.mjs [OUT_FILE]   (default docs/spec.md)
 *
 * An example comes from the field's `examples`, else its `const`, first
 * `enum` value or `default`, else the example of its `format` below; a field
 * with none of these fails generation, so no field goes undocumented.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const out = resolve(process.argv[2] ?? join(root, "docs/spec.md"));

const DOCUMENTS = [
  { file: "job.schema.json", where: "any number per file under a repository's `.hodei/`" },
  { file: "policy.schema.json", where: "in a platform repository's `.hodei/` (honoured only there)" },
  { file: "provider.schema.json", where: "in a platform repository's `.hodei/` (honoured only there)" },
  { file: "controller.schema.json", where: "the file given to `hodei controller --config FILE`" },
];

/** Examples of the custom formats (schemas/formats.ts), for fields that give none of their own. */
const FORMAT_EXAMPLES = {
  duration: "10m",
  "dns-label": "unit-tests",
  "label-key": "team",
  "filter-pattern": "src/**",
  cron: "*/15 * * * *",
  "secret-name": "NPM_TOKEN",
  "env-name": "CI",
  size: "512Mi",
  cpu: "500m",
  timezone: "Europe/Madrid",
  "positive-duration": "30s",
  "relative-path": "build/output",
  "image-ref": "node:20",
};

const code = (v) => {
  const s = typeof v === "string" ? v : JSON.stringify(v);
  const longest = Math.max(0, ...[...s.matchAll(/`+/g)].map((m) => m[0].length));
  const fence = "`".repeat(longest + 1);
  return `${fence}${longest ? " " : ""}${s}${longest ? " " : ""}${fence}`;
};
const cell = (s) => String(s).replace(/\r?\n/g, " ").replace(/\|/g, "\\|");

function resolveRef(schema, node) {
  let n = node;
  const seen = new Set();
  while (n && n.$ref) {
    if (seen.has(n.$ref)) throw new Error(`$ref cycle at ${n.$ref}`);
    seen.add(n.$ref);
    if (!n.$ref.startsWith("#/")) throw new Error(`only local $ref is supported: ${n.$ref}`);
    const target = n.$ref
      .slice(2)
      .split("/")
      .reduce((o, k) => o?.[k], schema);
    if (!target) throw new Error(`unresolved $ref ${n.$ref}`);
    const { $ref: _ref, ...rest } = n;
    n = { ...target, ...rest };
  }
  return n;
}

function typeOf(n) {
  const types = n.type === undefined ? [] : Array.isArray(n.type) ? n.type : [n.type];
  const parts = types.map((t) => {
    if (t === "array") {
      const item = n.items ? typeOf(n.items) : "any";
      return `array of ${item}`;
    }
    if (t === "object" && n.additionalProperties && typeof n.additionalProperties === "object" && !n.properties) return `map of ${typeOf(n.additionalProperties)}`;
    return t;
  });
  if (parts.length === 0 && n.const !== undefined) return typeof n.const;
  if (parts.length === 0 && n.enum) return [...new Set(n.enum.map((e) => typeof e))].join(" \\| ");
  return parts.join(" \\| ") || "any";
}

function constraints(n) {
  const c = [];
  if (n.const !== undefined) c.push(`always ${code(n.const)}`);
  if (n.enum) c.push(`one of ${n.enum.map(code).join(", ")}`);
  if (n.format) c.push(`format ${n.format}`);
  if (n.pattern && !n.format) c.push(`pattern ${code(n.pattern)}`);
  if (n.minimum !== undefined) c.push(`≥ ${n.minimum}`);
  if (n.exclusiveMinimum !== undefined) c.push(`> ${n.exclusiveMinimum}`);
  if (n.maximum !== undefined && !(n.format === "duration" && n.maximum === 0)) c.push(`≤ ${n.maximum}`);
  if (n.minLength !== undefined && n.minLength > 1) c.push(`at least ${n.minLength} characters`);
  if (n.maxLength !== undefined) c.push(`at most ${n.maxLength} characters`);
  if (n.minItems !== undefined && n.minItems > 0) c.push(`at least ${n.minItems} item${n.minItems > 1 ? "s" : ""}`);
  if (n.maxItems !== undefined) c.push(`at most ${n.maxItems} items`);
  if (n.uniqueItems) c.push("no duplicates");
  const items = n.items;
  if (items && !items.properties) {
    if (items.enum) c.push(`items one of ${items.enum.map(code).join(", ")}`);
    if (items.format) c.push(`items format ${items.format}`);
  }
  return c.join("; ");
}

function example(n, path) {
  if (Array.isArray(n.examples) && n.examples.length > 0) return n.examples[0];
  if (n.const !== undefined) return n.const;
  if (n.enum) return n.enum[0];
  if (n.default !== undefined) return n.default;
  if (n.format && FORMAT_EXAMPLES[n.format] !== undefined) return FORMAT_EXAMPLES[n.format];
  if (n.type === "array" && n.items) {
    const item = example(n.items, `${path}[]`);
    return [item];
  }
  throw new Error(`${path}: no example (add "examples" to the schema, or a FORMAT_EXAMPLES entry for its format)`);
}

/** Rows for every field under `node` (an object schema), depth first. */
function fields(schema, node, prefix, rows, requiredHere) {
  const n = resolveRef(schema, node);
  const props = n.properties ?? {};
  const required = new Set(n.required ?? []);
  for (const [name, raw] of Object.entries(props)) {
    const p = resolveRef(schema, raw);
    const path = prefix ? `${prefix}.${name}` : name;
    const isObject = (p.type === "object" || (Array.isArray(p.type) && p.type.includes("object"))) && p.properties;
    const itemObject = p.type === "array" && p.items && resolveRef(schema, p.items).properties;
    const alternatives = p.else?.properties ? p.else : undefined;
    rows.push({
      path,
      type: typeOf(p),
      required: required.has(name) && requiredHere ? "yes" : required.has(name) ? `yes (in ${prefix})` : "",
      default: p.default !== undefined ? code(p.default) : "",
      constraints: constraints(p),
      description: p.description ?? p.title ?? "",
      example: isObject || itemObject ? "" : code(example(p, path)),
      object: Boolean(isObject || itemObject),
    });
    if (isObject) fields(schema, p, path, rows, requiredHere && required.has(name));
    if (itemObject) fields(schema, p.items, `${path}[]`, rows, false);
    if (!itemObject && p.items?.else?.properties) fields(schema, p.items.else, `${path}[]`, rows, false);
    if (alternatives) fields(schema, alternatives, path, rows, false);
  }
  return rows;
}

const lines = [
  "# Document reference",
  "",
  "<!-- Generated by scripts/gen-spec-docs.mjs from schemas/*.schema.json: do not edit. Regenerate with `npm run gen:docs`. -->",
  "",
  "Every field of every Hodei document, generated from the JSON Schemas in",
  "`schemas/` (published in the npm package as `hodei/schemas/*.schema.json`).",
  "How the fields behave is explained in [specs.md](specs.md); this page is the",
  "exhaustive list. A field's *path* joins nested fields with `.`; `[]` is an",
  "item of a list. *Required* says whether the document is invalid without it.",
  "",
  "Editors that speak the YAML language server check a file and complete its",
  "fields with the schema named on its first line:",
  "",
  "```yaml",
  "# yaml-language-server: $schema=../../node_modules/hodei/schemas/job.schema.json",
  "apiVersion: hodei.dev/v1",
  "kind: Job",
  "```",
  "",
  "(a path relative to the file; see [specs.md](specs.md#editor-support). The examples in this",
  "repository point at `schemas/` the same way.)",
  "",
];

for (const d of DOCUMENTS) {
  const schema = JSON.parse(readFileSync(join(root, "schemas", d.file), "utf8"));
  lines.push(`## ${schema.title}`, "", `\`schemas/${d.file}\` — ${d.where}.`, "", schema.description, "");
  lines.push("| Field | Type | Required | Default | Allowed | Example | Description |", "|---|---|---|---|---|---|---|");
  for (const r of fields(schema, schema, "", [], true)) {
    lines.push(`| \`${r.path}\` | ${r.type} | ${r.required} | ${cell(r.default)} | ${cell(r.constraints)} | ${cell(r.example)} | ${cell(r.description)} |`);
  }
  lines.push("");
}

writeFileSync(out, `${lines.join("\n").trimEnd()}\n`);
process.stdout.write(`${out.startsWith(root) ? out.slice(root.length + 1) : out}: ${DOCUMENTS.length} documents\n`);
