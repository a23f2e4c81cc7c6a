/**
 * The JSON Schemas are published for editors (yaml-language-server) as well
 * as used by the loader, so they are checked as documents too: closed
 * objects, a description on every field, and the same fields as the
 * TypeScript types.
 */
import { describe, expect, it } from "vitest";
import jobSchema from "../../../schemas/job.schema.json" with { type: "json" };
import policySchema from "../../../schemas/policy.schema.json" with { type: "json" };
import providerSchema from "../../../schemas/provider.schema.json" with { type: "json" };
import type { JobSpec, PolicySpec, ProviderSpec } from "../../../schemas/load.js";

type Json = Record<string, unknown>;
const schemas: Record<string, Json> = { job: jobSchema, policy: policySchema, provider: providerSchema };

/** Every sub-schema with its path, depth first. */
function walk(node: unknown, path: string, visit: (s: Json, path: string) => void): void {
  if (Array.isArray(node)) node.forEach((n, i) => walk(n, `${path}/${i}`, visit));
  else if (typeof node === "object" && node !== null) {
    visit(node as Json, path);
    for (const [k, v] of Object.entries(node)) walk(v, `${path}/${k}`, visit);
  }
}

const specProps = (s: Json): string[] => Object.keys(((s["$defs"] as Json)["spec"] as Json)["properties"] as Json).sort();

// Record<keyof T, true> fails to compile when a key is missing or extra, so
// these lists follow the TypeScript types; the tests compare them to the schemas.
const JOB_KEYS: Record<keyof JobSpec, true> = {
  run: true, command: true, shell: true, env: true, workdir: true, checkout: true, timeout: true, killGrace: true, image: true, secrets: true,
  resources: true, selector: true, retries: true, priority: true, concurrency: true, triggers: true,
};
const POLICY_KEYS: Record<keyof PolicySpec, true> = { projects: true, limits: true, allowedImages: true, quotas: true, concurrency: true };
const PROVIDER_KEYS: Record<keyof ProviderSpec, true> = { type: true, capacity: true, labels: true, idleTtl: true, image: true, config: true };

describe.each(Object.entries(schemas))("%s.schema.json", (name, schema) => {
  it("declares draft 2020-12 and an $id", () => {
    expect(schema["$schema"]).toBe("https://json-schema.org/draft/2020-12/schema");
    expect(schema["$id"]).toBe(`https://hodei.dev/schemas/v1/${name}.schema.json`);
  });

  it("closes every object with fields: unknown fields are errors", () => {
    const open: string[] = [];
    walk(schema, "#", (s, path) => {
      if (s["properties"] !== undefined && s["additionalProperties"] !== false) open.push(path);
    });
    expect(open).toEqual([]);
  });

  it("describes every field", () => {
    const bare: string[] = [];
    walk(schema, "#", (s, path) => {
      for (const [field, sub] of Object.entries((s["properties"] ?? {}) as Record<string, Json>)) {
        const described = typeof sub["description"] === "string" || (typeof sub["$ref"] === "string" && /\/(metadata|spec)$/.test(sub["$ref"]));
        if (!described) bare.push(`${path}/properties/${field}`);
      }
    });
    expect(bare).toEqual([]);
  });
});

describe("schemas and TypeScript types", () => {
  it("have the same spec fields", () => {
    expect(specProps(jobSchema)).toEqual(Object.keys(JOB_KEYS).sort());
    expect(specProps(policySchema)).toEqual(Object.keys(POLICY_KEYS).sort());
    expect(specProps(providerSchema)).toEqual(Object.keys(PROVIDER_KEYS).sort());
  });
});
