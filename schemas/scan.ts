/**
 * Checks over a whole parsed document that JSON Schema cannot say once for
 * every field, in one walk without recursion (a hostile document may be
 * thousands of levels deep):
 * - nesting deeper than MAX_DEPTH (the YAML loader refuses that before
 *   parsing; JSON sent to the API needs it here);
 * - NUL characters in any key or string: PostgreSQL's jsonb cannot store
 *   them, and an argument, an environment value or a script cannot carry
 *   one to a process.
 */
import { escapePointer, type Issue } from "./messages.js";

/** Enough to say what is wrong; a document with more is not worth counting. */
const MAX_NUL_ISSUES = 1000;

/** What a string at `pointer` is, in the words of docs/specs.md. */
function whatIs(pointer: string): string {
  if (pointer === "/spec/run") return "script";
  if (pointer === "/spec/command/0") return "program (command[0])";
  if (/^\/spec\/command\/\d+$/.test(pointer)) return "argument";
  if (/^\/spec\/env\/[^/]+$/.test(pointer)) return "environment variable value";
  return "value";
}

/** The JSON pointer of the first value nested deeper than `maxDepth` (the document is depth 0), if any. */
export function tooDeep(root: unknown, maxDepth: number): string | undefined {
  const stack: Array<[unknown, string, number]> = [[root, "", 0]];
  for (let next = stack.pop(); next; next = stack.pop()) {
    const [v, pointer, depth] = next;
    if (depth > maxDepth) return pointer;
    if (typeof v !== "object" || v === null) continue;
    for (const [k, x] of Object.entries(v)) stack.push([x, `${pointer}/${escapePointer(k)}`, depth + 1]);
  }
  return undefined;
}

/** Every key and string holding a NUL, in document order. */
export function nulIssues(root: unknown): Issue[] {
  const issues: Issue[] = [];
  // A key is visited just before its value: `key` marks the entry whose key holds the NUL.
  const stack: Array<{ v: unknown; pointer: string; key?: true }> = [{ v: root, pointer: "" }];
  for (let next = stack.pop(); next && issues.length < MAX_NUL_ISSUES; next = stack.pop()) {
    const { v, pointer, key } = next;
    if (key) {
      issues.push({ pointer, at: "key", message: "key must not contain a NUL character (\\0)" });
    } else if (typeof v === "string") {
      if (v.includes("\0")) issues.push({ pointer, at: "value", message: `${whatIs(pointer)} must not contain a NUL character (\\0)` });
    } else if (typeof v === "object" && v !== null) {
      const entries = Object.entries(v);
      for (let i = entries.length - 1; i >= 0; i--) {
        const [k, x] = entries[i]!;
        const at = `${pointer}/${escapePointer(k)}`;
        stack.push({ v: x, pointer: at });
        if (k.includes("\0")) stack.push({ v: undefined, pointer: at, key: true });
      }
    }
  }
  return issues;
}
