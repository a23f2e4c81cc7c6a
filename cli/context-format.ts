/** A context for --json (schemas/cli/context.schema.json) and for people. */
import type { Context } from "./contexts.js";

export function contextJson(name: string, c: Context, current: boolean): Record<string, unknown> {
  return { name, controller: c.controller, tokenFile: c.tokenFile ?? null, ca: c.ca ?? null, current };
}
