/**
 * The checks every way of starting a run by hand shares (SubmitRun, RerunRun,
 * GitOpsService.RunJob): idempotency keys, manual: false. A job's secrets are
 * checked when its run is assigned (controller/secrets/resolve.ts).
 */
import { createHash } from "node:crypto";
import { status } from "@grpc/grpc-js";
import type { JobDocument } from "../../schemas/load.js";
import type { RunRow } from "../store/schema.js";
import { conflict, invalid, notAllowed } from "./errors.js";

/** Keys are client-made ids (the CLI sends a UUID); longer ones are refused, never cut (two cut keys could match). */
const MAX_IDEMPOTENCY_KEY = 200;

/** The key, checked; undefined when none was given. */
export function idempotencyKey(key: string): string | undefined {
  if (key.length > MAX_IDEMPOTENCY_KEY) throw invalid(`idempotency_key is ${key.length} characters; the limit is ${MAX_IDEMPOTENCY_KEY}`);
  return key || undefined;
}

/** What a key stands for: a retry must send the same request; another request under the key is a conflict. */
export const requestHash = (...parts: string[]): string => createHash("sha256").update(JSON.stringify(parts)).digest("hex");

/** insertRun's answer for a key already used: the first run if the request is the same (rows from before hashes count as the same). */
export function sameRequest(run: RunRow, hash: string, key: string | undefined): RunRow {
  if (run.request_hash !== null && run.request_hash !== hash) {
    throw conflict(`idempotency key "${key}" was already used by run ${run.id} for a different request; use a new key for a new request`, status.ALREADY_EXISTS);
  }
  return run;
}

/** `triggers.manual: false` keeps a job to its push and schedule triggers (docs/specs.md). */
export function checkManual(job: JobDocument, what: string): void {
  if (job.spec.triggers?.manual === false) {
    throw notAllowed(`job ${job.metadata.name} has triggers.manual: false, so it cannot be ${what}; it runs only from its push or schedule triggers`, status.FAILED_PRECONDITION);
  }
}
