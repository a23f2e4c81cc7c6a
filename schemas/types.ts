/**
 * TypeScript shapes of the documents, mirroring the JSON Schemas in this
 * folder, which are the source of truth (test/unit/schemas/schema-files.test.ts
 * checks that both list the same spec fields). Values are as written in YAML:
 * durations and sizes stay strings; parseDuration/parseSize give numbers.
 */
import type { SpecError } from "./errors.js";

export const API_VERSION = "hodei.dev/v1";
export const KINDS = ["Job", "Policy", "Provider"] as const;
export type Kind = (typeof KINDS)[number];

export interface Metadata {
  name: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

export interface Resources {
  cpu?: number | string;
  memory?: string;
  gpu?: number;
}

export type RetryOn = "failure" | "timeout" | "infrastructure";

export interface JobSpec {
  run?: string;
  command?: string[];
  shell?: "bash" | "sh";
  env?: Record<string, string>;
  workdir?: string;
  /** Check the repo out at the run's commit before a repo-triggered job starts (default true). */
  checkout?: boolean;
  timeout?: string;
  killGrace?: string;
  image?: string;
  secrets?: (string | { name: string; env?: string })[];
  resources?: Resources;
  selector?: Record<string, string>;
  retries?: { limit: number; backoff?: string; maxBackoff?: string; on?: RetryOn[] };
  /** Always present after validation (defaults to 0). */
  priority?: number;
  concurrency?: { group: string; cancelInProgress?: boolean };
  triggers?: Triggers;
}

/** The activity types of a pull request event, as GitHub names them. */
export const PULL_REQUEST_TYPES = [
  "assigned", "unassigned", "labeled", "unlabeled", "opened", "edited", "closed", "reopened", "synchronize",
  "converted_to_draft", "ready_for_review", "locked", "unlocked", "review_requested", "review_request_removed",
  "auto_merge_enabled", "auto_merge_disabled", "milestoned", "demilestoned", "enqueued", "dequeued",
] as const;
export type PullRequestType = (typeof PULL_REQUEST_TYPES)[number];
/** What `pullRequest.types` means when left out (as GitHub Actions). */
export const DEFAULT_PULL_REQUEST_TYPES: readonly PullRequestType[] = ["opened", "synchronize", "reopened"];

/** Filter patterns (schemas/filter-pattern.ts); `x` and `xIgnore` are never both given (schemas/check.ts). */
export interface PushTrigger {
  branches?: string[];
  branchesIgnore?: string[];
  tags?: string[];
  tagsIgnore?: string[];
  paths?: string[];
  pathsIgnore?: string[];
}

export interface PullRequestTrigger {
  types?: PullRequestType[];
  /** Patterns for the base branch, the one the pull request targets. */
  branches?: string[];
  branchesIgnore?: string[];
  paths?: string[];
  pathsIgnore?: string[];
}

/** A cron expression (in `triggers.timezone`, default UTC), or one with its own time zone. */
export type ScheduleEntry = string | { cron: string; timezone?: string };

export interface Triggers {
  push?: PushTrigger;
  pullRequest?: PullRequestTrigger;
  schedule?: ScheduleEntry[];
  /** IANA time zone of `schedule` entries that name none (default UTC). */
  timezone?: string;
  manual?: boolean;
  /** Report a "skipped" commit status when a paths filter skips the job. */
  reportSkipped?: boolean;
}

export interface JobDocument {
  apiVersion: typeof API_VERSION;
  kind: "Job";
  metadata: Metadata;
  spec: JobSpec;
}

export interface PolicySpec {
  projects?: string[];
  limits?: { maxTimeout?: string; maxRetries?: number; maxPriority?: number; resources?: Resources };
  allowedImages?: string[];
  quotas?: { concurrentRuns?: number; queuedRuns?: number };
  concurrency?: { maxPerJob?: number; maxPerGroup?: number };
}

export interface PolicyDocument {
  apiVersion: typeof API_VERSION;
  kind: "Policy";
  metadata: Metadata;
  spec: PolicySpec;
}

export interface ProviderSpec {
  type: "local" | "static" | "docker" | "kubernetes";
  capacity?: number;
  labels?: Record<string, string>;
  idleTtl?: string;
  image?: string;
  config?: Record<string, unknown>;
}

export interface ProviderDocument {
  apiVersion: typeof API_VERSION;
  kind: "Provider";
  metadata: Metadata;
  spec: ProviderSpec;
}

export type AnyDocument = JobDocument | PolicyDocument | ProviderDocument;

export interface LoadedDocument {
  kind: Kind;
  name: string;
  /** The file it came from, as given or discovered ("<input>" for objects). */
  file: string;
  /** 1-based line where the document's content starts (0 without a file). */
  line: number;
  doc: AnyDocument;
  /** Fields or kinds it uses that Hodei does not act on yet (schemas/unbuilt.ts); absent when none. */
  warnings?: SpecError[];
}

export interface LoadResult {
  /** Valid documents only, in file order. */
  documents: LoadedDocument[];
  /** Every problem found, sorted by file (in load order), line and column. */
  errors: SpecError[];
  /** Files that were read. */
  files: string[];
}
