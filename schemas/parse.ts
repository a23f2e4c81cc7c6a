/**
 * YAML text to yaml Documents, refusing absurd nesting before composing.
 *
 * yaml's composer recurses once per nesting level. A few hundred bytes of
 * `[[[[...` exhaust the stack; yaml catches that, but in testing a stack
 * overflow inside it left V8 in a state where the next parse aborted the
 * whole process (out of memory in the RegExp compiler). So depth is measured
 * first, on the concrete syntax tree, without recursion, and a document
 * nested deeper than any real definition is reported and never composed.
 */
import { Composer, Parser, type CST, type Document, type DocumentOptions, type LineCounter, type ParseOptions, type SchemaOptions } from "yaml";

/** Real definitions nest about 6 levels; provider config perhaps 15. */
export const MAX_DEPTH = 64;

type Options = ParseOptions & DocumentOptions & SchemaOptions;

/** Offset of the first node nested deeper than `max`, if any. */
function tooDeep(root: CST.Token, max: number): number | undefined {
  const stack: Array<[CST.Token, number]> = [[root, 0]];
  for (let next = stack.pop(); next; next = stack.pop()) {
    const [token, depth] = next;
    if (depth > max) return token.offset;
    if (token.type === "document" && token.value) stack.push([token.value, depth]);
    if (token.type === "block-map" || token.type === "block-seq" || token.type === "flow-collection") {
      for (const item of token.items) {
        if (item.key) stack.push([item.key, depth + 1]);
        if (item.value) stack.push([item.value, depth + 1]);
      }
    }
  }
  return undefined;
}

export interface Parsed {
  docs: Document.Parsed[];
  /** Offsets of documents that were not composed because they nest too deeply. */
  tooDeep: number[];
}

export function parseDocuments(text: string, lineCounter: LineCounter, options: Options): Parsed {
  const deep: number[] = [];
  const composer = new Composer(options);
  function* tokens(): Generator<CST.Token> {
    let dropped = false;
    for (const token of new Parser(lineCounter.addNewLine).parse(text)) {
      if (token.type === "document") {
        const at = tooDeep(token, MAX_DEPTH);
        dropped = at !== undefined;
        if (at !== undefined) {
          deep.push(at);
          continue;
        }
      } else if (token.type === "doc-end" && dropped) {
        continue; // the `...` of a dropped document: the composer would call it stray
      }
      yield token;
    }
  }
  return { docs: Array.from(composer.compose(tokens())), tooDeep: deep };
}
