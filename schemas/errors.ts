/**
 * Error types shared by the spec parsers, the validator and the loader.
 *
 * Two kinds of failure exist on purpose:
 * - `SpecValueError` is thrown by the small value parsers (durations, sizes,
 *   cron, names) when handed one bad string; its message is already written
 *   for a human and is reused verbatim in validation reports.
 * - `SpecError` is a plain record, never thrown: the loader collects every
 *   problem it finds so that one bad document never hides the others.
 */

/** A single value (duration, size, cron expression...) could not be parsed. */
export class SpecValueError extends Error {
  override readonly name = "SpecValueError";
}

/** One problem in one document, pointing at the offending YAML node. */
export interface SpecError {
  /** The file as given (or discovered), or "<input>" for parsed objects. */
  file: string;
  /** 1-based; 0 when there is no position (whole-file problems, JSON input). */
  line: number;
  /** 1-based; 0 when there is no position. */
  col: number;
  /** JSON pointer (RFC 6901) into the document; "" is the document itself. */
  pointer: string;
  message: string;
}

/**
 * `FILE:LINE:COL: message (at /json/pointer)`, the format compilers use so
 * editors and CI annotations can jump to the spot. The position is left out
 * when there is none (line 0) and the pointer when it is the whole document.
 */
export function formatSpecError(e: SpecError): string {
  const where = e.line > 0 ? `${e.file}:${e.line}:${e.col}` : e.file;
  const at = e.pointer === "" ? "" : ` (at ${e.pointer})`;
  return `${where}: ${e.message}${at}`;
}

/** Longest value, in characters, that messages quote whole. */
export const MAX_QUOTED = 80;

/**
 * A value quoted for a message, as JSON: `"10x"`. A long one is cut, and
 * says how long it was (`"aaaa…" (10000 characters)`), so a 10,000-character
 * name gives a one-line error rather than the name back.
 */
export function quote(v: unknown): string {
  if (typeof v !== "string") {
    const json = JSON.stringify(v) ?? String(v);
    return json.length <= MAX_QUOTED ? json : `${json.slice(0, MAX_QUOTED - 20)}… (${json.length} characters of JSON)`;
  }
  if (v.length <= MAX_QUOTED) return JSON.stringify(v);
  let head = v.slice(0, MAX_QUOTED - 20);
  if (/[\uD800-\uDBFF]$/.test(head)) head = head.slice(0, -1); // never half a surrogate pair
  return `${JSON.stringify(head).slice(0, -1)}…" (${v.length} characters)`;
}

/** A warning (schemas/unbuilt.ts) in the same format: `FILE:LINE:COL: warning: message (at /pointer)`. */
export function formatSpecWarning(w: SpecError): string {
  return formatSpecError({ ...w, message: `warning: ${w.message}` });
}
