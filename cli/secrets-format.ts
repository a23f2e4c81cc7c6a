import type { Secret } from "../proto/gen/hodei/v1/secrets.js";

/** A secret as --json shows it: never its value (no answer carries one). */
export const secretJson = (s: Secret): Record<string, unknown> => ({
  name: s.name,
  project: s.project || null,
  createdBy: s.createdBy,
  createdAt: new Date(s.createdAtMs).toISOString(),
  updatedBy: s.updatedBy,
  updatedAt: new Date(s.updatedAtMs).toISOString(),
  keyId: s.keyId,
});
