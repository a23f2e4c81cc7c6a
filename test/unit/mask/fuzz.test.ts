/**
 * Fuzz of the streaming masker: random values, random encodings of them in
 * random binary noise, random chunk splits. Seeded, so every run tries the
 * same cases and a failure names its seed. Each case must give exactly what
 * a plain whole-input masker gives (every occurrence of every form found
 * with indexOf, overlapping ones merged), however it is split; the value's
 * encodings, computed here with Node's encoders, must not survive; the noise
 * alone must pass byte for byte. test/fixtures/mask-corpus.json holds the
 * cases that failed while the masker was written, replayed first.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { MASK, MaskSet, StreamMasker, maskForms } from "../../../mask/index.js";
import { ROOT } from "../../helpers/procs.js";

const CASES = 2000;
const MASK_BYTES = Buffer.from(MASK);

function rng(seed: number): () => number {
  // mulberry32
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Every form of every value, found in the whole input at once; overlapping or touching matches become one mask. */
function reference(values: string[], input: Buffer): Buffer {
  const forms = values.flatMap((v) => maskForms(v));
  const iv: [number, number][] = [];
  for (const f of forms) for (let at = input.indexOf(f); at >= 0; at = input.indexOf(f, at + 1)) iv.push([at, at + f.length]);
  iv.sort((a, b) => a[0] - b[0]);
  const out: Buffer[] = [];
  let cur = 0;
  let end = -1;
  for (const [s, e] of iv) {
    if (s <= end) {
      end = Math.max(end, e);
      continue;
    }
    if (end >= 0) cur = end;
    out.push(input.subarray(cur, s), MASK_BYTES);
    end = e;
  }
  if (end >= 0) cur = end;
  out.push(input.subarray(cur));
  return Buffer.concat(out);
}

function stream(values: string[], chunks: Buffer[]): Buffer {
  const m = new StreamMasker(new MaskSet(values));
  const out = chunks.map((c) => m.write(c));
  out.push(m.end());
  return Buffer.concat(out);
}

function splitAt(input: Buffer, cuts: number[]): Buffer[] {
  const at = [...new Set(cuts)].sort((a, b) => a - b);
  const parts: Buffer[] = [];
  let prev = 0;
  for (const c of at) {
    parts.push(input.subarray(prev, c));
    prev = c;
  }
  parts.push(input.subarray(prev));
  return parts;
}

const ALPHABET = [..."abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+/=-_ !\"'\\$`%&<>?:;\n\r\téü€😀"];

interface Case {
  values: string[];
  /** The encodings put into the input (must not be in the output). */
  planted: string[];
  input: Buffer;
  noise: Buffer;
  cuts: number[];
}

function makeCase(seed: number): Case {
  const r = rng(seed);
  const int = (n: number) => Math.floor(r() * n);
  const values: string[] = [];
  for (let n = 1 + int(4); values.length < n; ) {
    let v = "";
    for (let len = 4 + int(36), k = 0; k < len; k++) v += ALPHABET[int(r() < 0.7 ? 62 : ALPHABET.length)];
    if (Buffer.byteLength(v) >= 4 && !/^\s|\s$/.test(v)) values.push(v);
  }
  const noiseParts: Buffer[] = [];
  const parts: Buffer[] = [];
  const planted: string[] = [];
  for (let k = 0, n = 1 + int(6); k < n; k++) {
    const noise = Buffer.alloc(int(300));
    for (let i = 0; i < noise.length; i++) noise[i] = int(256);
    noiseParts.push(noise);
    parts.push(noise);
    const v = values[int(values.length)]!;
    const raw = Buffer.from(v);
    switch (int(6)) {
      case 0:
        parts.push(raw);
        planted.push(v);
        break;
      case 1: {
        const pre = Buffer.alloc(int(3), 0x41 + int(20));
        const url = r() < 0.5;
        const enc = Buffer.concat([pre, raw, r() < 0.5 ? Buffer.from("tail!") : Buffer.alloc(0)]).toString(url ? "base64url" : "base64");
        const first = Math.ceil((8 * pre.length) / 6);
        const stable = Math.floor((8 * (pre.length + raw.length)) / 6);
        parts.push(Buffer.from(enc));
        planted.push(enc.slice(first, stable));
        break;
      }
      case 2:
        parts.push(Buffer.from(encodeURIComponent(v)));
        planted.push(encodeURIComponent(v));
        break;
      case 3: {
        const j = JSON.stringify(v).slice(1, -1);
        parts.push(Buffer.from(j));
        planted.push(j);
        break;
      }
      case 4: {
        const q = `'${v.replace(/'/g, "'\\''")}'`;
        parts.push(Buffer.from(q));
        planted.push(q.slice(1, -1));
        break;
      }
      default: {
        const lines = v.split(/\r?\n|\r/).filter((l) => Buffer.byteLength(l) >= 4);
        for (const l of lines) {
          parts.push(Buffer.from(`${l}\n`));
          planted.push(l);
        }
      }
    }
  }
  const input = Buffer.concat(parts);
  const cuts: number[] = [];
  for (let n = int(8); cuts.length < n; ) cuts.push(int(input.length + 1));
  return { values, planted, input, noise: Buffer.concat(noiseParts), cuts };
}

function check(c: { values: string[]; input: Buffer; cuts: number[]; planted?: string[] }, label: string): void {
  const want = reference(c.values, c.input);
  // On failure the message carries the case as a corpus entry, ready for test/fixtures/mask-corpus.json.
  const entry = (why: string) => `${label}: ${why}\n${JSON.stringify({ why: `${label}: ${why}`, values: c.values, input: c.input.toString("base64"), cuts: c.cuts })}`;
  if (!stream(c.values, [c.input]).equals(want)) expect.fail(entry("whole input differs from the reference"));
  if (!stream(c.values, splitAt(c.input, c.cuts)).equals(want)) expect.fail(entry("split input differs from the reference"));
  for (const p of c.planted ?? []) if (want.includes(Buffer.from(p))) expect.fail(entry(`${JSON.stringify(p)} survived`));
}

interface CorpusEntry {
  why: string;
  values: string[];
  /** base64 of the input bytes */
  input: string;
  cuts: number[];
}

describe("masker fuzz", () => {
  it("replays the committed corpus", () => {
    const corpus = JSON.parse(readFileSync(join(ROOT, "test/fixtures/mask-corpus.json"), "utf8")) as CorpusEntry[];
    expect(corpus.length).toBeGreaterThan(0);
    for (const e of corpus) check({ values: e.values, input: Buffer.from(e.input, "base64"), cuts: e.cuts }, e.why);
  });

  it("500 seeded cases of ::add-mask:: lines among output: split anywhere, the same output; no registered value shows after its line", () => {
    for (let seed = 1; seed <= 500; seed++) {
      const r = rng(seed * 7919);
      const int = (n: number) => Math.floor(r() * n);
      const vals = Array.from({ length: 1 + int(5) }, (_, k) => `v${k}-${Math.floor(r() * 1e9).toString(36)}-${"x".repeat(int(6))}`);
      const lines: string[] = [];
      for (const v of vals) {
        for (let k = int(3); k > 0; k--) lines.push(`noise ${int(1e6)} ${r() < 0.3 ? "\x1b[1m" : ""}`);
        lines.push(`::add-mask::${v}`);
        if (r() < 0.5) lines.push(`::add-mask::${vals[int(vals.length)]}`);
        lines.push(`uses ${v} and ${Buffer.from(v).toString("base64")}`);
      }
      const input = Buffer.from(lines.join("\n") + "\n");
      const cuts = Array.from({ length: int(10) }, () => int(input.length + 1));
      const run = (chunks: Buffer[]) => {
        const m = new StreamMasker(new MaskSet(), { commands: true });
        return Buffer.concat([...chunks.map((c) => m.write(c)), m.end()]).toString();
      };
      const whole = run([input]);
      const split = run(splitAt(input, cuts));
      if (whole !== split) expect.fail(`seed ${seed}: split at ${cuts.join(",")} differs:\n${whole}\n---\n${split}`);
      for (const v of vals) expect(whole, `seed ${seed}`).not.toContain(v);
      expect(whole.split("\n").filter((l) => l.startsWith("::add-mask::")).every((l) => l === "::add-mask::***"), `seed ${seed}`).toBe(true);
    }
  });

  it(`${CASES} seeded random cases: same as the whole-input masker however split, no planted form survives, noise alone untouched`, () => {
    for (let seed = 1; seed <= CASES; seed++) {
      const c = makeCase(seed);
      check(c, `seed ${seed}`);
      expect(stream(c.values, splitAt(c.noise, c.cuts.map((x) => Math.min(x, c.noise.length)))).equals(c.noise), `seed ${seed}: noise`).toBe(true);
    }
  });
});
