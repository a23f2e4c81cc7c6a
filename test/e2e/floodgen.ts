/** The same generator as test/fixtures/jobs/flood.yaml, so a test knows what the job wrote. */
export function floodExpected(total = 50 * 1024 * 1024): { stdout: Buffer; stderr: Buffer } {
  let seed = 42;
  let written = 0;
  const next = (): number => (seed = (seed * 1103515245 + 12345) >>> 0);
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  while (written < total) {
    const size = Math.min(total - written, 1 + (next() % 65536));
    const buf = Buffer.alloc(size);
    for (let i = 0; i < size; i++) buf[i] = next() >>> 24;
    (next() % 3 === 0 ? err : out).push(buf);
    written += size;
  }
  return { stdout: Buffer.concat(out), stderr: Buffer.concat(err) };
}
