/**
 * The committed JSON Schemas of the CLI's --json output (schemas/cli/), loaded
 * into ajv once, for tests to check what the built `hodei` printed.
 */
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { Ajv2020 } from "ajv/dist/2020.js";
import addFormats from "ajv-formats";
import { ROOT } from "./procs.js";

export const SCHEMA_DIR = join(ROOT, "schemas/cli");

/** The schema of a command's output: "runs:ls" → runs-ls. */
export const schemaNameOf = (commandId: string): string => commandId.replaceAll(":", "-");

const ajv = new Ajv2020({ allErrors: true, strict: true });
addFormats.default(ajv);
for (const f of readdirSync(SCHEMA_DIR).filter((f) => f.endsWith(".schema.json"))) ajv.addSchema(JSON.parse(readFileSync(join(SCHEMA_DIR, f), "utf8")) as object, f);

export const schemaNames = (): string[] => readdirSync(SCHEMA_DIR).filter((f) => f.endsWith(".schema.json") && f !== "defs.schema.json").map((f) => f.replace(/\.schema\.json$/, ""));

/** Throws, naming every mismatch, unless `value` has the shape schemas/cli/NAME.schema.json documents. */
export function assertShape(name: string, value: unknown): void {
  const validate = ajv.getSchema(`${name}.schema.json`);
  if (!validate) throw new Error(`no schema schemas/cli/${name}.schema.json`);
  if (!validate(value)) throw new Error(`hodei --json output does not match schemas/cli/${name}.schema.json:\n${ajv.errorsText(validate.errors, { separator: "\n" })}\n${JSON.stringify(value, null, 2).slice(0, 3000)}`);
}
