/**
 * From a JSON pointer back to the YAML node it came from, so errors found on
 * the plain JS value can name a line and column. Follows aliases and `<<`
 * merge keys: a bad value that was merged in is reported where it is written.
 */
import { isAlias, isMap, isScalar, isSeq, type Alias, type Node, type Pair, type YAMLMap } from "yaml";
import { unescapePointer } from "./messages.js";

// Merges can chain (a merge source that merges another); cycles are cut here.
const MAX_MERGE_DEPTH = 16;

/** The node an alias refers to (from inspectTree). */
export type AliasTarget = (alias: Alias) => Node | undefined;

function deref(target: AliasTarget, node: unknown): unknown {
  return isAlias(node) ? target(node) : node;
}

const isMergeKey = (p: Pair): boolean => isScalar(p.key) && p.key.value === "<<";

/** The pair for `key` in `map`, looking into merged mappings after the map's own keys, as merging does. */
function findPair(target: AliasTarget, map: YAMLMap, key: string, depth = 0): Pair | undefined {
  for (const p of map.items) {
    if (!isMergeKey(p) && isScalar(p.key) && String(p.key.value) === key) return p;
  }
  if (depth >= MAX_MERGE_DEPTH) return undefined;
  for (const p of map.items) {
    if (!isMergeKey(p)) continue;
    const src = deref(target, p.value);
    const sources = isSeq(src) ? src.items.map((i) => deref(target, i)) : [src];
    for (const s of sources) {
      const found = isMap(s) ? findPair(target, s, key, depth + 1) : undefined;
      if (found) return found;
    }
  }
  return undefined;
}

/** A scalar written as nothing (`timeout:`) has no useful position of its own. */
const isBlank = (n: unknown): boolean => isScalar(n) && n.value === null && !n.source;

/**
 * The node at `pointer` (its key when `at` is "key"), or the deepest node on
 * the way if the path does not exist in the YAML (e.g. a default value).
 */
export function locate(root: Node | null, target: AliasTarget, pointer: string, at: "key" | "value"): Node | undefined {
  const segs = pointer === "" ? [] : pointer.slice(1).split("/").map(unescapePointer);
  let node: unknown = root;
  let best = root;
  for (let i = 0; i < segs.length; i++) {
    const seg = segs[i] ?? "";
    const cur = deref(target, node);
    let next: unknown;
    let keyNode: unknown;
    if (isMap(cur)) {
      const pair = findPair(target, cur, seg);
      keyNode = pair?.key;
      next = pair?.value;
    } else if (isSeq(cur)) {
      next = cur.items[Number(seg)];
    }
    const last = i === segs.length - 1;
    if (last && at === "key" && keyNode) return keyNode as Node;
    if (next && !isBlank(next)) {
      best = next as Node;
    } else {
      return (keyNode as Node | undefined) ?? best ?? undefined;
    }
    node = next;
  }
  return best ?? undefined;
}
