/**
 * npm run bench:mask: the secret masker's throughput in MB/s with 0, 10 and
 * 1,000 values over 64 MiB of mixed output (test/bench/mask-throughput.ts).
 * Prints a table (stderr) and JSON (stdout; --out FILE writes it). `npm run
 * bench` runs the same measurement as one of its sections.
 *
 *   node dist/test/bench/mask.js [--mib 64] [--out FILE]
 */
import { writeFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { copyThroughput, maskThroughput, type MaskBench } from "./mask-throughput.js";

const { values: opt } = parseArgs({ options: { mib: { type: "string", default: "64" }, out: { type: "string" } } });

export function maskSection(mib: number): { copyMBps: number; runs: MaskBench[] } {
  return { copyMBps: copyThroughput(mib), runs: [0, 10, 1000].map((n) => maskThroughput(n, mib)) };
}

export function maskRows(r: { copyMBps: number; runs: MaskBench[] }): [string, string][] {
  return [
    ...r.runs.map((b): [string, string] => [`masker MB/s, ${b.secrets} values (${b.mib} MiB mixed; build ${b.buildMs.toFixed(0)} ms)`, b.mbPerSec.toFixed(0)]),
    ["peer: Buffer.concat of the same chunks, MB/s", r.copyMBps.toFixed(0)],
  ];
}

if (process.argv[1]?.endsWith("/mask.js")) {
  const r = maskSection(Number(opt.mib));
  const rows = maskRows(r);
  const w = Math.max(...rows.map(([k]) => k.length));
  process.stderr.write(rows.map(([k, v]) => `${k.padEnd(w)}  ${v}`).join("\n") + "\n");
  const json = JSON.stringify({ date: new Date().toISOString(), node: process.version, masking: r }, null, 2);
  process.stdout.write(json + "\n");
  if (opt.out) writeFileSync(opt.out, json + "\n");
}
