/**
 * What the schemas accept but Hodei does not act on yet, in one table.
 *
 * A user who writes `concurrency:` believes deploys are serialised. Until
 * that is built, every such field or document kind gets a warning (`hodei
 * validate`, `hodei run`), so nobody relies on it by mistake. Later work
 * shrinks this table: when a field starts working, delete its row
 * (docs/specs.md lists the same rows). `secrets` left it when injection was
 * built (controller/secrets/).
 */
import type { AnyDocument, Kind } from "./types.js";

export interface Unbuilt {
  kind: Kind;
  /** JSON pointer of the field; "" for the whole document kind. */
  pointer: string;
  message: string;
}

export const UNBUILT: readonly Unbuilt[] = [
  { kind: "Job", pointer: "/spec/concurrency", message: "`concurrency` is not enforced yet; the run may overlap others in its group" },
  { kind: "Job", pointer: "/spec/resources", message: "`resources` is not used yet; placement ignores it and no limits are applied" },
  { kind: "Job", pointer: "/spec/image", message: "`image` is not used yet; the job runs directly on the agent's host, not in a container" },
  { kind: "Policy", pointer: "", message: "Policy documents are not enforced yet; none of their limits, quotas, images or concurrency caps apply" },
  { kind: "Provider", pointer: "", message: "Provider documents are not used yet; runs go to the agents started with `hodei agent` (or the embedded one)" },
];

/** The value at a JSON pointer made of plain keys (the table's pointers have no escapes). */
function at(doc: unknown, pointer: string): unknown {
  let v: unknown = doc;
  for (const key of pointer.split("/").slice(1)) {
    if (typeof v !== "object" || v === null) return undefined;
    v = (v as Record<string, unknown>)[key];
  }
  return v;
}

/** A field counts when it asks for something: an empty list asks for nothing. */
const present = (v: unknown): boolean => v !== undefined && v !== null && !(Array.isArray(v) && v.length === 0);

/** The rows of UNBUILT that apply to a valid document, in table order. */
export function unbuiltIn(doc: AnyDocument): Unbuilt[] {
  return UNBUILT.filter((u) => u.kind === doc.kind && (u.pointer === "" || present(at(doc, u.pointer))));
}
