/** "did you mean" for misspelt field names and enum values. */

/**
 * Optimal string alignment distance: Levenshtein plus adjacent swaps, so
 * "tiemout" is one edit from "timeout". Three rolling rows: it runs for every
 * unknown field, and a hostile file may have thousands.
 */
export function editDistance(a: string, b: string): number {
  const n = b.length;
  let prev2 = new Int32Array(n + 1);
  let prev = Int32Array.from({ length: n + 1 }, (_, j) => j);
  let cur = new Int32Array(n + 1);
  for (let i = 1; i <= a.length; i++) {
    cur[0] = i;
    for (let j = 1; j <= n; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let v = Math.min((prev[j] ?? 0) + 1, (cur[j - 1] ?? 0) + 1, (prev[j - 1] ?? 0) + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) v = Math.min(v, (prev2[j - 2] ?? 0) + 1);
      cur[j] = v;
    }
    [prev2, prev, cur] = [prev, cur, prev2];
  }
  return prev[n] ?? 0;
}

/**
 * The candidate closest to `word`, if it is close enough to be a plausible
 * typo: the same word in another case, or at most a third of the letters off.
 */
export function closest(word: string, candidates: Iterable<string>): string | undefined {
  const w = word.toLowerCase();
  let best: string | undefined;
  let bestScore = Infinity;
  for (const c of candidates) {
    const limit = Math.max(1, Math.floor(Math.max(w.length, c.length) / 3));
    if (Math.abs(c.length - w.length) > limit) continue; // cannot be close enough
    const lc = c.toLowerCase();
    const score = lc === w ? 0.5 : editDistance(w, lc);
    if (score <= limit && score < bestScore) {
      best = c;
      bestScore = score;
    }
  }
  return best;
}

export function didYouMean(word: string, candidates: Iterable<string>): string {
  const c = closest(word, candidates);
  return c === undefined ? "" : ` (did you mean ${JSON.stringify(c)}?)`;
}
