/**
 * The spec loader: YAML text in, valid documents plus every problem out.
 *
 * Each problem names file, line, column and JSON pointer. Documents are
 * handled one by one, so a syntax error or a bad field in one document never
 * hides the valid documents around it. Nothing here throws for bad input.
 */
import { readFile, stat } from "node:fs/promises";
import { checkDocument } from "./check.js";
import { discoverSpecFiles } from "./discover.js";
import { formatSpecError, type SpecError } from "./errors.js";
import { MAX_DEPTH } from "./parse.js";
import { fileError, loadInto, MAX_FILE_BYTES, tooLarge, type Names } from "./read.js";
import { tooDeep } from "./scan.js";
import type { AnyDocument, JobDocument, LoadResult } from "./types.js";

export { formatSpecError, formatSpecWarning, SpecValueError, type SpecError } from "./errors.js";
export { UNBUILT, unbuiltIn, type Unbuilt } from "./unbuilt.js";
export { discoverSpecFiles } from "./discover.js";
export { MAX_ALIAS_COUNT, MAX_FILE_BYTES } from "./read.js";
export { MAX_DEPTH } from "./parse.js";
export type {
  AnyDocument,
  JobDocument,
  JobSpec,
  Kind,
  LoadedDocument,
  LoadResult,
  Metadata,
  PolicyDocument,
  PolicySpec,
  ProviderDocument,
  ProviderSpec,
  Resources,
} from "./types.js";

const emptyResult = (): LoadResult => ({ documents: [], errors: [], files: [] });

/** Load every document in `text`; `file` is only used in messages. */
export function loadText(text: string, file: string): LoadResult {
  const out = emptyResult();
  out.files.push(file);
  loadInto(text, file, out, new Map());
  return out;
}

/**
 * Load texts read elsewhere (a repository's files at a commit) as one set: a
 * name defined twice is an error, as with loadPaths. A file given without text
 * but with its size was too large to read.
 */
export function loadTexts(files: readonly { file: string; text?: string; size?: number }[]): LoadResult {
  const out = emptyResult();
  const names: Names = new Map();
  for (const f of files) {
    if (f.text === undefined) {
      out.errors.push(f.size !== undefined && f.size > MAX_FILE_BYTES ? tooLarge(f.file, f.size) : fileError(f.file, "cannot read"));
      continue;
    }
    out.files.push(f.file);
    loadInto(f.text, f.file, out, names);
  }
  return out;
}

function readErrorMessage(e: unknown): string {
  const code = (e as { code?: unknown } | null)?.code;
  if (code === "ENOENT") return "no such file or directory";
  if (code === "EACCES" || code === "EPERM") return "permission denied";
  if (code === "EISDIR") return "is a directory";
  return `cannot read: ${e instanceof Error ? e.message : String(e)}`;
}

async function loadFileInto(path: string, out: LoadResult, names: Names): Promise<void> {
  let text: string;
  try {
    // Check the size before reading, so a huge file is never pulled into memory.
    const st = await stat(path);
    if (st.isDirectory()) throw Object.assign(new Error("is a directory"), { code: "EISDIR" });
    if (st.size > MAX_FILE_BYTES) {
      out.errors.push(tooLarge(path, st.size));
      return;
    }
    text = await readFile(path, "utf8");
  } catch (e) {
    out.errors.push(fileError(path, readErrorMessage(e)));
    return;
  }
  out.files.push(path);
  loadInto(text, path, out, names);
}

export async function loadFile(path: string): Promise<LoadResult> {
  const out = emptyResult();
  await loadFileInto(path, out, new Map());
  return out;
}

/**
 * Files or folders; a folder means its `.hodei/**\/*.yaml` and `.yml`
 * (sorted), or, if the folder itself is named .hodei, everything below it,
 * or else the YAML directly inside it and inside its `jobs/` folder (see
 * discoverSpecFiles). A path that does not exist is an error entry, not a
 * throw. A folder with no YAML adds no files and no error: callers decide
 * whether that matters (`hodei validate` does).
 */
export async function loadPaths(paths: string[]): Promise<LoadResult> {
  const out = emptyResult();
  const names: Names = new Map();
  const seen = new Set<string>();
  for (const p of paths) {
    let files: string[];
    try {
      files = (await stat(p)).isDirectory() ? await discoverSpecFiles(p) : [p];
    } catch (e) {
      out.errors.push(fileError(p, readErrorMessage(e)));
      continue;
    }
    for (const f of files) {
      if (seen.has(f)) continue;
      seen.add(f);
      await loadFileInto(f, out, names);
    }
  }
  return out;
}

/**
 * Validate an already-parsed object (the controller re-validates JSON sent by
 * clients). Errors have file "<input>", line 0, col 0. Nesting is limited as
 * in YAML (MAX_DEPTH).
 */
export function validateDocument(obj: unknown, file = "<input>"): { doc?: AnyDocument; errors: SpecError[] } {
  // The YAML loader refuses this depth before parsing; JSON.parse does not (and copying it may overflow the stack).
  const deep = tooDeep(obj, MAX_DEPTH);
  if (deep !== undefined) return { errors: [{ file, line: 0, col: 0, pointer: deep, message: `nested too deeply (more than ${MAX_DEPTH} levels)` }] };
  let copy: unknown;
  try {
    copy = structuredClone(obj); // validation fills in defaults; never modify the caller's object
  } catch {
    return { errors: [fileError(file, "expected plain data (JSON), got something that cannot be copied")] };
  }
  const { doc, issues } = checkDocument(copy);
  const errors = issues.map((i): SpecError => ({ file, line: 0, col: 0, pointer: i.pointer, message: i.message }));
  return doc ? { doc, errors } : { errors };
}

export function jobs(result: LoadResult): JobDocument[] {
  return result.documents.filter((d) => d.kind === "Job").map((d) => d.doc as JobDocument);
}

/** All errors of a result, one formatted line each. */
export function formatErrors(result: LoadResult): string[] {
  return result.errors.map(formatSpecError);
}

/** Every warning of a result (schemas/unbuilt.ts), in document order. */
export function warningsOf(result: LoadResult): SpecError[] {
  return result.documents.flatMap((d) => d.warnings ?? []);
}
