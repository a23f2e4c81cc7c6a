/**
 * One file's text to documents and errors: parse, check the syntax tree,
 * expand aliases (within limits), validate, and place every problem at a
 * line and column. The limits exist because definitions come from any
 * repository the controller syncs: a hostile 1 MiB file must cost at most a
 * second or two, never the process.
 */
import { isScalar, LineCounter, type Document, type YAMLError } from "yaml";
import { checkDocument } from "./check.js";
import { quote, SpecValueError, type SpecError } from "./errors.js";
import { MAX_DEPTH, parseDocuments } from "./parse.js";
import { locate } from "./position.js";
import { unbuiltIn } from "./unbuilt.js";
import { inspectTree } from "./tree.js";
import type { AnyDocument, LoadResult } from "./types.js";

/** Definitions are small; a bigger file is a mistake or an attack. */
export const MAX_FILE_BYTES = 1024 * 1024;
/** Enough for many jobs sharing anchors; far too few for a "billion laughs" bomb. */
export const MAX_ALIAS_COUNT = 1000;
/** After a few syntax errors in one document the rest are mostly echoes of the first. */
const MAX_YAML_ERRORS = 10;
const MAX_ISSUES = 100;
const MAX_FILE_ERRORS = 1000;

/** Where each kind/name was first seen in one load, for duplicate detection across files. */
export type Names = Map<string, SpecError>;

export const fileError = (file: string, message: string): SpecError => ({ file, line: 0, col: 0, pointer: "", message });

export function tooLarge(file: string, bytes: number): SpecError {
  const mib = (Math.ceil((bytes / MAX_FILE_BYTES) * 100) / 100).toFixed(2); // never "1.00 MiB" for a file over the limit
  return fileError(file, `file is too large (${mib} MiB); the limit is 1 MiB`);
}

/** The first non-blank character of the first non-blank line after `offset`'s line. */
function nextLineStart(text: string, offset: number): number | undefined {
  const m = /\n([ \t]*)(?=\S)/g;
  m.lastIndex = offset;
  const hit = m.exec(text);
  return hit ? hit.index + hit[0].length : undefined;
}

/**
 * Where a syntax error's cause is, which is not always where yaml noticed it:
 * an unclosed quote or bracket is noticed at the end of the file, and a line
 * indented too deep at the end of the line before it.
 */
function yamlOffset(e: YAMLError, text: string): number {
  const at = e.pos[0];
  if (e.code === "MISSING_CHAR" || e.code === "BAD_INDENT") {
    const opener = /quote/.test(e.message) ? (/'/.test(e.message) ? "'" : '"') : /\]/.test(e.message) ? "[" : /\}/.test(e.message) ? "{" : undefined;
    const open = opener ? text.lastIndexOf(opener, at - 1) : -1;
    if (open >= 0) return open;
  }
  if (e.code === "MULTILINE_IMPLICIT_KEY" || e.code === "BLOCK_AS_IMPLICIT_KEY") return nextLineStart(text, at) ?? at;
  return at;
}

/** yaml's messages, rephrased where a better word exists. */
function yamlMessage(e: YAMLError, text: string): string {
  const token = text.slice(e.pos[0], e.pos[1]);
  switch (e.code) {
    case "MULTILINE_IMPLICIT_KEY":
    case "BLOCK_AS_IMPLICIT_KEY":
      return "invalid YAML: this line is indented deeper than the key above it allows (a key here needs the same indentation as its siblings)";
    case "MISSING_CHAR":
    case "BAD_INDENT": {
      if (/quote/.test(e.message)) return "invalid YAML: this quote is never closed";
      const bracket = /end with a ([\]}])/.exec(e.message)?.[1];
      if (bracket) return `invalid YAML: this ${bracket === "]" ? "[" : "{"} is never closed by a ${bracket} (or a line inside it is not indented enough)`;
      return `invalid YAML: ${e.message}`;
    }
    case "TAG_RESOLVE_FAILED":
      return `unsupported tag ${quote(token)}`;
    case "NON_STRING_KEY":
      return "keys must be plain strings, not lists or mappings";
    default:
      return `invalid YAML: ${e.message}`;
  }
}

/** Aliases may place a node inside another many times; the copy must stay small. */
const MAX_VALUES = 1_000_000;
const MAX_VALUE_DEPTH = 4 * MAX_DEPTH;

/**
 * A deep copy of plain data. toJS returns one shared object for every alias
 * of a node; a consumer editing one job's env must not edit another's.
 * (structuredClone keeps such sharing.) Copying is where aliases multiply
 * data, so it counts what it copies. fromEntries defines own properties, so
 * a "__proto__" key stays a key.
 */
function unshare(root: unknown): unknown {
  let budget = MAX_VALUES;
  const copy = (v: unknown, depth: number): unknown => {
    if (--budget < 0) throw new SpecValueError(`the document expands to more than ${MAX_VALUES} values through aliases`);
    if (depth > MAX_VALUE_DEPTH) throw new SpecValueError(`nested too deeply through aliases (more than ${MAX_VALUE_DEPTH} levels)`);
    if (Array.isArray(v)) return v.map((x) => copy(x, depth + 1));
    if (typeof v === "object" && v !== null) return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, copy(x, depth + 1)]));
    return v;
  };
  return copy(root, 0);
}

/** Errors in file order; the sort is stable, so equal positions keep their order. */
const byPosition = (errors: SpecError[]): SpecError[] => errors.sort((a, b) => a.line - b.line || a.col - b.col);

/**
 * At most `max` errors, in file order, then a line saying how many more of
 * `total` there are, placed with the last one so it stays last.
 */
function capped(errors: SpecError[], max: number, what: string, total = errors.length): SpecError[] {
  const shown = byPosition(errors.slice(0, max));
  const last = shown.at(-1);
  if (total > max && last) shown.push({ ...last, pointer: "", message: `${total - max} more ${what} not shown` });
  return shown;
}

type Place = (offset: number | undefined, pointer: string, message: string) => SpecError;

/** A parsed document to either its errors or a valid document (with where its name is, for duplicates). */
function readDocument(doc: Document.Parsed, text: string, place: Place): { errors: SpecError[]; valid?: AnyDocument; name?: SpecError; warnings?: SpecError[] } {
  const problems = [...doc.errors, ...doc.warnings];
  if (problems.length > 0) {
    const placed = problems.map((e) => place(yamlOffset(e, text), "", yamlMessage(e, text)));
    const unique = placed.filter((p, i) => placed.findIndex((q) => q.line === p.line && q.col === p.col && q.message === p.message) === i);
    return { errors: capped(unique, MAX_YAML_ERRORS, "YAML errors in this document") };
  }
  const contents = doc.contents;
  if (contents === null || (isScalar(contents) && contents.value === null)) return { errors: [] }; // empty document
  const start = contents.range?.[0];
  const tree = inspectTree(doc);
  if (tree.problems.length > 0) {
    return { errors: capped(tree.problems.map((p) => place(p.node.range?.[0], "", p.message)), MAX_YAML_ERRORS, "YAML errors in this document") };
  }
  let value: unknown;
  try {
    value = unshare(doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT }));
  } catch (e) {
    const message = e instanceof SpecValueError
      ? e.message
      : e instanceof Error && /alias count/i.test(e.message)
        ? `too many alias expansions (more than ${MAX_ALIAS_COUNT}); refusing to expand what looks like an alias bomb`
        : `cannot read document: ${e instanceof Error ? e.message : String(e)}`;
    return { errors: [place(start, "", message)] };
  }
  const { doc: valid, issues } = checkDocument(value);
  const where = (pointer: string, target: "key" | "value"): number | undefined =>
    locate(contents, tree.target, pointer, target)?.range?.[0] ?? start;
  // Placing an issue walks the tree; a hostile file can have 100k, and nobody reads more than a screenful.
  const shown = issues.slice(0, MAX_ISSUES).map((i) => place(where(i.pointer, i.at), i.pointer, i.message));
  const errors = capped(shown, MAX_ISSUES, "errors in this document", issues.length);
  if (!valid) return { errors };
  const warnings = byPosition(unbuiltIn(valid).map((u) => place(where(u.pointer, "key"), u.pointer, u.message)));
  return { errors, valid, name: place(where("/metadata/name", "value"), "/metadata/name", ""), warnings };
}

/** Adds the documents and errors of one file to `out`. */
export function loadInto(text: string, file: string, out: LoadResult, names: Names): void {
  const bytes = Buffer.byteLength(text);
  if (bytes > MAX_FILE_BYTES) {
    out.errors.push(tooLarge(file, bytes));
    return;
  }
  const lc = new LineCounter();
  const place: Place = (offset, pointer, message) => ({ file, ...lc.linePos(offset ?? 0), pointer, message });
  const { docs, tooDeep } = parseDocuments(text, lc, {
    merge: true, // `<<: *defaults`, as people write in CI configs
    stringKeys: true, // a list or mapping as a key is an error, not a stringified surprise
    uniqueKeys: false, // quadratic in yaml; inspectTree checks in linear time
    prettyErrors: false, // positions come from the line counter; messages stay one line
    logLevel: "silent",
  });
  const errors = tooDeep.map((offset) => place(offset, "", `nested too deeply (more than ${MAX_DEPTH} levels)`));
  for (const doc of docs) {
    const r = readDocument(doc, text, place);
    for (const e of r.errors) errors.push(e);
    if (!r.valid || !r.name) continue;
    const { kind, metadata } = r.valid;
    const id = `${kind}\0${metadata.name}`;
    const first = names.get(id);
    if (first) {
      const where = first.file === file ? `on line ${first.line}` : `in ${first.file}:${first.line}:${first.col}`;
      errors.push({ ...r.name, message: `duplicate ${kind.toLowerCase()} name ${quote(metadata.name)}: already defined ${where}` });
      continue;
    }
    names.set(id, r.name);
    const warnings = r.warnings?.length ? { warnings: r.warnings } : {};
    out.documents.push({ kind, name: metadata.name, file, line: lc.linePos(doc.contents?.range?.[0] ?? 0).line, doc: r.valid, ...warnings });
  }
  for (const e of capped(errors, MAX_FILE_ERRORS, "errors in this file")) out.errors.push(e);
}
