/**
 * The table of fields accepted but not built yet: each row names a field the
 * schemas really have (a stale row would warn about nothing), and each row
 * turns into a warning at the field's line.
 */
import { describe, expect, it } from "vitest";
import { readFileSync } from "node:fs";
import { loadText, UNBUILT, warningsOf } from "../../../schemas/load.js";

const schema = (kind: string): Record<string, unknown> => JSON.parse(readFileSync(`schemas/${kind.toLowerCase()}.schema.json`, "utf8")) as Record<string, unknown>;

/** The schema node for a pointer like /spec/triggers/push, following the job schema's $defs. */
function schemaAt(kind: string, pointer: string): unknown {
  const root = schema(kind);
  const defs = root.$defs as Record<string, Record<string, unknown>>;
  let node: Record<string, unknown> | undefined = root;
  for (const key of pointer.split("/").slice(1)) {
    const props = node?.properties as Record<string, Record<string, unknown>> | undefined;
    node = props?.[key];
    const ref = node?.$ref as string | undefined;
    if (ref?.startsWith("#/$defs/")) node = defs[ref.slice("#/$defs/".length)];
  }
  return node;
}

describe("UNBUILT", () => {
  it.each(UNBUILT.map((u) => [u.kind, u.pointer || "(whole document)", u]))("%s %s is in the schema", (_k, _p, u) => {
    expect(schemaAt(u.kind, u.pointer)).toBeDefined();
  });

  it("warns nowhere for a job that uses only what is built (secrets included)", () => {
    const r = loadText("apiVersion: hodei.dev/v1\nkind: Job\nmetadata: { name: ok, labels: { a: b } }\nspec:\n  run: echo\n  secrets: [A, { name: B, env: B_ENV }]\n  triggers: { manual: true }\n  retries: { limit: 1 }\n", "ok.yaml");
    expect(r.errors).toEqual([]);
    expect(warningsOf(r)).toEqual([]);
  });

  it("places a warning at its field", () => {
    const r = loadText("apiVersion: hodei.dev/v1\nkind: Job\nmetadata: { name: c }\nspec:\n  run: echo\n  concurrency:\n    group: g\n", "c.yaml");
    expect(warningsOf(r)).toEqual([{ file: "c.yaml", line: 6, col: 3, pointer: "/spec/concurrency", message: UNBUILT.find((u) => u.pointer === "/spec/concurrency")?.message }]);
  });
});
