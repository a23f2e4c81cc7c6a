/**
 * Throughput of the secret masker (mask/) as the agent runs it: one
 * StreamMasker with `::add-mask::` recognition, fed 64 KiB chunks (one pipe
 * read) of mixed output: log lines, ANSI colours, progress lines with \r,
 * binary noise, and now and then one of the values in one of its forms.
 * Measured for 0, 10 and 1,000 values. The peer is Buffer.concat over the
 * same chunks: the cost of touching the bytes at all.
 */
import { performance } from "node:perf_hooks";
import { MaskSet, StreamMasker } from "../../mask/index.js";

export interface MaskBench {
  secrets: number;
  mib: number;
  /** Building the automaton for the values (all their forms). */
  buildMs: number;
  mbPerSec: number;
  /** Bytes out / bytes in (masks replace values). */
  outRatio: number;
}

function rng(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const CHARS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_";

function values(n: number, r: () => number): string[] {
  return Array.from({ length: n }, () => Array.from({ length: 24 }, () => CHARS[Math.floor(r() * CHARS.length)]).join(""));
}

/** `mib` MiB of mixed output, with a value (raw, base64 or URL-encoded) about every 64 KiB when there are values. */
export function mixedOutput(mib: number, vals: string[], seed = 1): Buffer[] {
  const r = rng(seed);
  const total = mib << 20;
  const parts: Buffer[] = [];
  let size = 0;
  let sinceSecret = 0;
  while (size < total) {
    const k = r();
    let p: Buffer;
    if (k < 0.6) p = Buffer.from(`2026-01-01T00:00:${String(Math.floor(r() * 60)).padStart(2, "0")}Z INFO step ${Math.floor(r() * 1e6)} compiled module src/pkg${Math.floor(r() * 100)}/file.ts in ${Math.floor(r() * 900)}ms\n`);
    else if (k < 0.8) p = Buffer.from(`\x1b[32m✓\x1b[0m test ${Math.floor(r() * 1e4)} passes \x1b[2m(${Math.floor(r() * 90)} ms)\x1b[0m\n`);
    else if (k < 0.9) p = Buffer.from(`\rDownloading ${Math.floor(r() * 100)}% [${"#".repeat(Math.floor(r() * 40))}]`);
    else {
      p = Buffer.alloc(64 + Math.floor(r() * 512));
      for (let i = 0; i < p.length; i++) p[i] = Math.floor(r() * 256);
    }
    parts.push(p);
    size += p.length;
    sinceSecret += p.length;
    if (vals.length > 0 && sinceSecret > 64 * 1024) {
      const v = vals[Math.floor(r() * vals.length)]!;
      const forms = [v, Buffer.from(v).toString("base64"), encodeURIComponent(v)];
      const s = Buffer.from(`token=${forms[Math.floor(r() * forms.length)]}\n`);
      parts.push(s);
      size += s.length;
      sinceSecret = 0;
    }
  }
  const all = Buffer.concat(parts).subarray(0, total);
  const chunks: Buffer[] = [];
  for (let off = 0; off < all.length; off += 64 * 1024) chunks.push(all.subarray(off, off + 64 * 1024));
  return chunks;
}

export function maskThroughput(secrets: number, mib: number): MaskBench {
  const vals = values(secrets, rng(42 + secrets));
  const chunks = mixedOutput(mib, vals);
  const t0 = performance.now();
  const set = new MaskSet(vals);
  void set.automaton;
  const buildMs = performance.now() - t0;
  const m = new StreamMasker(set, { commands: true });
  let out = 0;
  const t1 = performance.now();
  for (const c of chunks) out += m.write(c).length;
  out += m.end().length;
  const seconds = (performance.now() - t1) / 1000;
  const bytes = chunks.reduce((n, c) => n + c.length, 0);
  return { secrets, mib, buildMs, mbPerSec: bytes / 1048576 / seconds, outRatio: out / bytes };
}

/** The floor: copying the same chunks once. */
export function copyThroughput(mib: number): number {
  const chunks = mixedOutput(mib, []);
  const t = performance.now();
  const all = Buffer.concat(chunks);
  const seconds = (performance.now() - t) / 1000;
  return all.length / 1048576 / seconds;
}
