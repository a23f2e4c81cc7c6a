/**
 * Aho–Corasick over bytes: one pass over the input finds every occurrence of
 * every pattern, in time linear in the input whatever the number of
 * patterns. States are trie nodes (state 0 is the root); a state with many
 * children (the root, usually its children) gets a full 256-entry row of
 * precomputed moves, the others a short edge list and the failure link.
 * Memory: a few bytes per pattern byte, plus 1 KiB per dense row.
 */

/** A state with at least this many children gets a dense row. */
const DENSE_CHILDREN = 4;
/**
 * States this shallow get a dense row whatever their children: ordinary text
 * keeps the automaton in them (most letters start some form), and a row
 * lookup is far cheaper than an edge scan plus failure links. At most
 * 1 + 256 + 65,536 of them; in practice a few thousand for 1,000 values.
 */
const DENSE_DEPTH = 2;

export class Automaton {
  /** Length of the longest pattern ending at this state (0: none): the match to mask. */
  readonly outLen: Int32Array;
  /** Length of the state's string: how many input bytes a partial match holds back. */
  readonly depth: Int32Array;
  /** The root's moves: for the fast path over bytes that start no pattern. */
  readonly rootNext: Int32Array;
  readonly longest: number;
  private readonly fail: Int32Array;
  private readonly edgeStart: Int32Array;
  private readonly edgeKey: Uint8Array;
  private readonly edgeTo: Int32Array;
  /** Row index into dense (times 256), or -1: read by the masker's inner loop. */
  readonly denseRow: Int32Array;
  /** Full rows of moves, 256 per dense state. */
  readonly dense: Int32Array;

  constructor(patterns: readonly Buffer[]) {
    // The trie. One Map for all edges (key: state * 256 + byte) and sibling
    // lists: a Map per state made 1,000 values' ~900k states slow to build.
    const edge = new Map<number, number>();
    const depth: number[] = [0];
    const term: number[] = [0];
    const firstChild: number[] = [-1];
    const nextSibling: number[] = [-1];
    const byteOf: number[] = [0];
    const childCount: number[] = [0];
    let longest = 0;
    for (const p of patterns) {
      if (p.length === 0) continue;
      longest = Math.max(longest, p.length);
      let s = 0;
      for (const b of p) {
        let t = edge.get(s * 256 + b);
        if (t === undefined) {
          t = depth.length;
          edge.set(s * 256 + b, t);
          depth.push(depth[s]! + 1);
          term.push(0);
          firstChild.push(-1);
          nextSibling.push(firstChild[s]!);
          byteOf.push(b);
          childCount.push(0);
          firstChild[s] = t;
          childCount[s]!++;
        }
        s = t;
      }
      term[s] = p.length;
    }
    const n = depth.length;
    this.longest = longest;
    this.depth = Int32Array.from(depth);
    this.outLen = new Int32Array(n);
    this.fail = new Int32Array(n);
    this.edgeStart = new Int32Array(n + 1);
    let edges = 0;
    for (let s = 0; s < n; s++) {
      this.edgeStart[s] = edges;
      edges += childCount[s]!;
    }
    this.edgeStart[n] = edges;
    this.edgeKey = new Uint8Array(edges);
    this.edgeTo = new Int32Array(edges);
    for (let s = 0; s < n; s++) {
      let e = this.edgeStart[s]!;
      for (let t = firstChild[s]!; t >= 0; t = nextSibling[t]!) {
        this.edgeKey[e] = byteOf[t]!;
        this.edgeTo[e++] = t;
      }
    }
    this.denseRow = new Int32Array(n).fill(-1);
    let rows = 0;
    for (let s = 0; s < n; s++) if (depth[s]! <= DENSE_DEPTH || childCount[s]! >= DENSE_CHILDREN) this.denseRow[s] = rows++;
    this.dense = new Int32Array(rows * 256);
    this.rootNext = this.dense.subarray(0, 256);
    for (let t = firstChild[0]!; t >= 0; t = nextSibling[t]!) this.rootNext[byteOf[t]!] = t;
    // Breadth first: a state's failure link and dense row need only shallower states.
    const queue = new Int32Array(n);
    let tail = 0;
    for (let t = firstChild[0]!; t >= 0; t = nextSibling[t]!) queue[tail++] = t;
    for (let q = 0; q < tail; q++) {
      const s = queue[q]!;
      const f = this.fail[s]!;
      this.outLen[s] = term[s]! > 0 ? term[s]! : this.outLen[f]!;
      const row = this.denseRow[s]!;
      if (row >= 0) for (let b = 0; b < 256; b++) this.dense[row * 256 + b] = this.next(f, b);
      for (let t = firstChild[s]!; t >= 0; t = nextSibling[t]!) {
        const b = byteOf[t]!;
        this.fail[t] = this.next(f, b);
        if (row >= 0) this.dense[row * 256 + b] = t;
        queue[tail++] = t;
      }
    }
  }

  get states(): number {
    return this.depth.length;
  }

  /** The state after reading byte b in state s. */
  next(s: number, b: number): number {
    for (;;) {
      const row = this.denseRow[s]!;
      if (row >= 0) return this.dense[row * 256 + b]!;
      const end = this.edgeStart[s + 1]!;
      for (let e = this.edgeStart[s]!; e < end; e++) if (this.edgeKey[e] === b) return this.edgeTo[e]!;
      s = this.fail[s]!;
    }
  }
}
