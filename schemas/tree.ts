/**
 * Checks on the YAML syntax tree that yaml either does not make or makes
 * too slowly, all in one linear pass:
 * - duplicate keys (yaml's own check compares every pair of keys: a 1 MiB
 *   mapping of 100k keys would take a minute, so it is turned off);
 * - aliases without an anchor before them, and aliases inside the node they
 *   refer to (a cyclic value that JSON and the rest of Hodei cannot hold).
 * It also keeps which node each alias refers to: yaml's Alias.resolve scans
 * the whole document on every call.
 */
import { isAlias, isMap, isScalar, visit, type Alias, type Document, type Node } from "yaml";
import { quote } from "./errors.js";

export interface TreeProblem {
  node: Node;
  message: string;
}

export interface TreeInfo {
  problems: TreeProblem[];
  /** The node an alias refers to, as yaml would resolve it. */
  target(alias: Alias): Node | undefined;
}

export function inspectTree(doc: Document): TreeInfo {
  const problems: TreeProblem[] = [];
  const anchors = new Map<string, Node>(); // latest definition so far, in document order
  const targets = new Map<Alias, Node | undefined>();
  visit(doc, {
    Node(_key, node, path) {
      if (isAlias(node)) {
        const target = anchors.get(node.source);
        targets.set(node, target);
        if (!target) {
          problems.push({ node, message: `unknown alias *${node.source}: no anchor &${node.source} before it in this document` });
        } else if (path.includes(target)) {
          problems.push({ node, message: `alias *${node.source} refers to a node that contains it` });
        }
        return;
      }
      if (node.anchor) anchors.set(node.anchor, node);
      if (isMap(node)) {
        const seen = new Set<string>();
        for (const pair of node.items) {
          if (!isScalar(pair.key) || pair.key.value === "<<") continue; // several merge keys are fine
          const key = String(pair.key.value);
          if (seen.has(key)) problems.push({ node: pair.key, message: `duplicate key ${quote(key)}: keys in a mapping must be unique` });
          seen.add(key);
        }
      }
    },
  });
  return { problems, target: (alias) => targets.get(alias) };
}
