/**
 * The values one run masks, shared by its streams' maskers: given up front
 * (ExecSpec.mask_values) or registered while it runs (`::add-mask::`). The
 * automaton is rebuilt lazily, once per batch of additions; each masker sees
 * the version change and rescans what it holds.
 */
import { Automaton } from "./automaton.js";
import { MAX_MASK_BYTES, MIN_MASK_BYTES, maskForms } from "./forms.js";

export type AddResult = "added" | "known" | "short";

export class MaskSet {
  private readonly values = new Set<string>();
  private readonly patterns: Buffer[] = [];
  private built?: Automaton;
  /** Bumped by every addition: a masker holding an older automaton rebuilds its state. */
  version = 0;
  /** Automata built so far (each addition makes the next use rebuild). */
  builds = 0;

  constructor(values: Iterable<string> = []) {
    for (const v of values) this.add(v);
  }

  /** "short": not masked (fewer than MIN_MASK_BYTES bytes); the caller warns. */
  add(value: string): AddResult {
    const key = Buffer.from(value, "utf8").subarray(0, MAX_MASK_BYTES).toString("utf8");
    if (Buffer.byteLength(key) < MIN_MASK_BYTES) return "short";
    if (this.values.has(key)) return "known";
    this.values.add(key);
    this.patterns.push(...maskForms(key));
    this.built = undefined;
    this.version++;
    return "added";
  }

  get size(): number {
    return this.values.size;
  }

  get automaton(): Automaton {
    if (!this.built) {
      this.built = new Automaton(this.patterns);
      this.builds++;
    }
    return this.built;
  }
}
