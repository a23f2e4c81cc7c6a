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

/** Where two byte strings first differ, with context, or undefined when equal (for readable failures). */
export function firstDifference(got: Buffer, want: Buffer): { offset: number; gotLength: number; wantLength: number; got: string; want: string } | undefined {
  if (got.equals(want)) return undefined;
  let i = 0;
  while (i < got.length && i < want.length && got[i] === want[i]) i++;
  const show = (b: Buffer): string => JSON.stringify(b.subarray(Math.max(0, i - 16), i + 200).toString("latin1"));
  return { offset: i, gotLength: got.length, wantLength: want.length, got: show(got), want: show(want) };
}
