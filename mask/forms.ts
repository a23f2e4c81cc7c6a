/**
 * The byte sequences that give a secret value away: the value itself, each
 * line of a multi-line value, and the encodings a job is likely to print it
 * in (base64 at each of the three byte alignments in both alphabets,
 * URL-encoded, JSON-escaped, shell-quoted). The streaming masker
 * (stream.ts) replaces every one of them.
 */

/**
 * Values (and derived forms) shorter than this are not masked: masking "a" or
 * "yes" would scramble every log while protecting nothing (a 3-byte secret is
 * guessed anyway). Such a value gets a warning in the run's log instead.
 */
export const MIN_MASK_BYTES = 4;

/** What every masked occurrence becomes, as in GitHub Actions. */
export const MASK = "***";

/**
 * Values longer than this are cut: the masker's memory and the bytes it may
 * hold back grow with the longest form. 64 KiB holds any key or certificate;
 * a longer value is still masked through its lines and its first 64 KiB.
 */
export const MAX_MASK_BYTES = 64 * 1024;

/** All distinct forms of `value` at least MIN_MASK_BYTES long; none when the value itself is shorter. */
export function maskForms(value: string): Buffer[] {
  const raw = Buffer.from(value, "utf8").subarray(0, MAX_MASK_BYTES);
  if (raw.length < MIN_MASK_BYTES) return [];
  const text = raw.toString("utf8");
  const forms = new Set<string>([text]);
  const bytes = new Set<Buffer>();
  // Each line alone: a multi-line value is often printed, or grepped, line by line.
  if (/[\r\n]/.test(text)) for (const line of text.split(/\r?\n|\r/)) forms.add(line);
  for (const f of base64Forms(raw)) forms.add(f);
  for (const f of urlForms(text)) forms.add(f);
  for (const f of jsonForms(text)) forms.add(f);
  for (const f of shellForms(text)) forms.add(f);
  for (const f of forms) {
    const b = Buffer.from(f, "utf8");
    if (b.length >= MIN_MASK_BYTES) bytes.add(b);
  }
  // A value that is not valid UTF-8 keeps its exact bytes (text above is lossy then).
  if (!raw.equals(Buffer.from(text, "utf8"))) bytes.add(raw);
  return [...bytes];
}

/** First base64 character that depends on the value alone, after k ∈ {0,1,2} unknown bytes. */
const FIRST_STABLE = [0, 2, 3];

/**
 * The value inside base64 data, wherever it starts: after k unknown bytes
 * (k = offset mod 3) its encoding shifts, and the characters that mix its
 * bits with its neighbours' differ from case to case. For each k, the stable
 * middle (which matches whatever follows), and the whole tail as it looks
 * when the value ends the data (padded and unpadded); each in the standard
 * and the URL-safe alphabet.
 */
function base64Forms(raw: Buffer): string[] {
  const out: string[] = [];
  for (let k = 0; k < 3; k++) {
    const enc = Buffer.concat([Buffer.alloc(k), raw]).toString("base64");
    const stableEnd = Math.floor(((k + raw.length) * 8) / 6);
    const tail = enc.slice(FIRST_STABLE[k]);
    for (const f of [enc.slice(FIRST_STABLE[k], stableEnd), tail, tail.replace(/=+$/, "")]) {
      out.push(f, f.replace(/\+/g, "-").replace(/\//g, "_"));
    }
  }
  return out;
}

/** encodeURIComponent's form, with lower-case hex, and the form encoding (space as +). */
function urlForms(text: string): string[] {
  let enc: string;
  try {
    enc = encodeURIComponent(text);
  } catch {
    return []; // a lone surrogate: not encodable, so not printed this way either
  }
  const lower = enc.replace(/%[0-9A-F]{2}/g, (h) => h.toLowerCase());
  const form = enc.replace(/%20/g, "+").replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
  return [enc, lower, form];
}

/** Inside a JSON string: JSON.stringify's escapes, ASCII-only (\u00e9, as Python), HTML-safe (\u003c, as Go), \/ (as PHP). */
function jsonForms(text: string): string[] {
  const plain = JSON.stringify(text).slice(1, -1);
  const ascii = plain.replace(/[^\x20-\x7e]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
  const html = plain.replace(/[<>&]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
  return [plain, ascii, html, plain.replace(/\//g, "\\/")];
}

/** As a shell prints or quotes it: inside '…' ('\'' for a quote, as `set -x` does), backslash-escaped (printf %q), inside "…". */
function shellForms(text: string): string[] {
  return [text.replace(/'/g, "'\\''"), text.replace(/[^A-Za-z0-9_/.,:=@%+^-]/g, "\\$&"), text.replace(/["\\$`]/g, "\\$&")];
}
