/**
 * Row types of the tables, used directly by the queries (no mapping layer).
 *
 * Glossary
 * - run: one execution of a job document; `attempt` counts its tries and is
 *   the fencing token an agent's reports must carry.
 * - log chunk: a slice of a run attempt's output bytes, numbered by `seq` from 0.
 * - stdin chunk: a slice of a run's input bytes (`hodei run -i`), numbered by
 *   `seq` from 0, shared by every attempt.
 * - agent: a process that dialed in; its row outlives the connection so
 *   `hodei agents ls` can show disconnected agents.
 */
import type { ColumnType, Generated, Insertable, Selectable, Updateable } from "kysely";

/** bigint columns come back from pg as strings; we only ever write numbers or strings. */
type Int8 = ColumnType<string, string | number | bigint, string | number | bigint>;
type Timestamp = ColumnType<Date, Date | string, Date | string>;
type Json<T> = ColumnType<T, string, string>;
type NullableTimestamp = ColumnType<Date | null, Date | string | null, Date | string | null>;
type OptionalTimestamp = ColumnType<Date | null, Date | string | null | undefined, Date | string | null>;

import type { RunState } from "../runs/transitions.js";

export type { RunState };

export interface RunsTable {
  id: ColumnType<string, never, never>;
  job_name: string;
  state: RunState;
  attempt: Generated<number>;
  priority: Generated<number>;
  /** The validated Job document as JSON. */
  job: Json<unknown>;
  /** Labels an agent must have (jsonb, matched with `<@`). */
  selector: Json<Record<string, string>>;
  source: Generated<string>;
  idempotency_key: string | null;
  /** sha256 of the request that made the run under its idempotency key (see api/control.ts). */
  request_hash: string | null;
  /** SHA-256 of the run's source bundle (source_bundles); null: an empty workspace. */
  source_digest: ColumnType<string | null, string | null | undefined, string | null>;
  /** `hodei run --in-place`: the directory that is the run's workspace (ExecSpec.workspace_dir); null: a fresh one. */
  workspace_dir: ColumnType<string | null, string | null | undefined, string | null>;
  agent_id: string | null;
  exit_code: number | null;
  signal: string | null;
  reason: string | null;
  message: Generated<string>;
  /** Stored chunks of the current attempt (the next sequence expected). */
  log_chunks: ColumnType<string, string | number | undefined, string | number>;
  cancel_requested: Generated<boolean>;
  /** The job's stdin comes from stdin_chunks (`hodei run -i`); false: closed. */
  stdin: Generated<boolean>;
  /** The next stdin sequence expected (store/stdin.ts). */
  stdin_next: ColumnType<string, string | number | undefined, string | number>;
  /** Stdin bytes stored so far, checked against the per-run limit. */
  stdin_bytes: ColumnType<string, string | number | undefined, string | number>;
  /** The chunk with eof is stored: no more stdin. */
  stdin_eof: Generated<boolean>;
  /** A queued retry waits until then (backoff). */
  not_before: NullableTimestamp;
  retries: Generated<number>;
  created_at: ColumnType<Date, Date | string | undefined, Date | string>;
  assigned_at: NullableTimestamp;
  started_at: NullableTimestamp;
  finished_at: NullableTimestamp;
  /** Where the run came from (gitops/trigger.ts RunTrigger); null for a run submitted from a file. */
  trigger: ColumnType<unknown, string | null | undefined, string | null>;
  /** The repo whose commit the run checks out; null for a run submitted from a file. */
  repo_id: ColumnType<string | null, string | number | null | undefined, string | number | null>;
  /** The project the run belongs to (migrations/011_auth.ts). */
  project: Generated<string>;
  /** The name of the token that submitted it (a submitter may cancel and rerun its own runs); null: a push or schedule. */
  submitted_by: ColumnType<string | null, string | null | undefined, string | null>;
}

export interface LogChunksTable {
  run_id: Int8;
  attempt: number;
  seq: Int8;
  /** 1 stdout, 2 stderr, 3 system (LogStream in proto). */
  stream: number;
  data: Buffer;
  ts_ms: Int8;
}

/** A slice of a run's stdin, numbered by `seq` from 0; the one with `eof` is the last. */
export interface StdinChunksTable {
  run_id: Int8;
  seq: Int8;
  data: Buffer;
  eof: Generated<boolean>;
}

export type AgentState = "connected" | "disconnected" | "draining" | "lost";

export interface AgentsTable {
  id: string;
  name: string;
  state: AgentState;
  labels: Json<Record<string, string>>;
  slots: number;
  version: Generated<string>;
  kill_method: Generated<string>;
  /** Last heartbeat as sent (cpu, memory, load). */
  heartbeat: ColumnType<Record<string, number> | null, string | null, string | null>;
  connected_at: Timestamp;
  last_seen_at: Timestamp;
  /** SHA-256 of its session credential (migrations/013_agent_auth.ts); null for an agent that never joined with one. */
  credential_hash: ColumnType<string | null, string | null | undefined, string | null>;
  /** The labels its join token fixed (the agent cannot override them). */
  fixed_labels: ColumnType<Record<string, string>, string | undefined, string>;
  /** The join token that admitted it: its id, or "seed" (HODEI_AGENT_JOIN_TOKEN). */
  joined_with: Generated<string>;
}

/** One ended attempt of a run (the run row holds the current one). */
export interface RunAttemptsTable {
  run_id: Int8;
  attempt: number;
  state: RunState;
  reason: string | null;
  exit_code: number | null;
  signal: string | null;
  message: Generated<string>;
  agent_id: string | null;
  started_at: NullableTimestamp;
  finished_at: Timestamp;
  log_chunks: ColumnType<string, string | number | undefined, string | number>;
}

/** A gzip'd tar of the working tree a run starts in, keyed by its SHA-256 (store/sources.ts). */
export interface SourceBundlesTable {
  digest: string;
  data: Buffer;
  created_at: ColumnType<Date, Date | string | undefined, Date | string>;
}

/** A repository of job definitions (`hodei repos add`); see migrations/006_gitops.ts. */
export interface ReposTable {
  id: ColumnType<string, never, never>;
  name: string;
  url: string;
  branch: string;
  path: string;
  platform: Generated<boolean>;
  webhook_secret: string | null;
  token: string | null;
  poll_interval_ms: number;
  created_at: ColumnType<Date, Date | string | undefined, Date | string>;
  sync_lease_owner: string | null;
  sync_lease_until: NullableTimestamp;
  last_sync_at: NullableTimestamp;
  last_sync_ms: number | null;
  last_sync_commit: string | null;
  last_sync_error: string | null;
  /** The project of the runs this repo starts. */
  project: Generated<string>;
}

export interface RepoRefsTable {
  repo_id: Int8;
  ref: string;
  commit: string;
}

export interface RepoCommitsTable {
  repo_id: Int8;
  commit: string;
  /** Formatted `FILE:LINE:COL: message` lines. */
  errors: Json<string[]>;
  read_at: ColumnType<Date, Date | string | undefined, Date | string>;
}

export interface JobDefinitionsTable {
  repo_id: Int8;
  commit: string;
  name: string;
  file: string;
  job: Json<unknown>;
}

export interface RepoPushesTable {
  repo_id: Int8;
  ref: string;
  commit: string;
  /** webhook, poll or manual. */
  via: string;
  delivery_id: string | null;
  received_at: ColumnType<Date, Date | string | undefined, Date | string>;
}

export interface RepoSyncsTable {
  id: ColumnType<string, never, never>;
  repo_id: Int8;
  started_at: Timestamp;
  duration_ms: number;
  via: string;
  commit: string | null;
  error: string | null;
}

/** One tick of a scheduled job, claimed once, with the run it started (store/schedules.ts). */
export interface ScheduleTicksTable {
  /** Names the job definition; opaque to the store. */
  job_key: string;
  tick_at: Timestamp;
  /** Null only if the run was deleted later. */
  run_id: ColumnType<string | null, string | number | bigint | null | undefined, string | number | bigint | null>;
  claimed_at: ColumnType<Date, Date | string | undefined, Date | string>;
}

/** A commit status Hodei posts to GitHub, claimed once (store/statuses.ts, migrations/009_commit_statuses.ts). */
export interface CommitStatusesTable {
  /** run/<id>/pending, run/<id>/final or skip/<repo>/<commit>/<job>. */
  key: string;
  repo_id: Int8;
  run_id: ColumnType<string | null, string | number | bigint | null | undefined, string | number | bigint | null>;
  commit: string;
  /** hodei/JOB */
  context: string;
  state: CommitStatusState;
  description: string;
  outcome: ColumnType<CommitStatusOutcome, CommitStatusOutcome | undefined, CommitStatusOutcome>;
  /** The reporter posting it (until lease_until). */
  owner: string;
  lease_until: Timestamp;
  attempts: Generated<number>;
  last_error: string | null;
  created_at: ColumnType<Date, Date | string | undefined, Date | string>;
  updated_at: ColumnType<Date, Date | string | undefined, Date | string>;
}

/** GitHub's commit status states. */
export type CommitStatusState = "pending" | "success" | "failure" | "error";
export type CommitStatusOutcome = "todo" | "posted" | "failed" | "superseded";

/** One request to /webhooks/..., accepted or refused; see migrations/008_webhook_deliveries.ts. */
export interface WebhookDeliveriesTable {
  id: ColumnType<string, never, never>;
  provider: string;
  delivery_id: string;
  /** provider:repo id:delivery id on a verified delivery (unique: the dedupe); null otherwise. */
  claim: string | null;
  repo_id: ColumnType<string | null, string | number | bigint | null | undefined, string | number | bigint | null>;
  event: string;
  received_at: ColumnType<Date, Date | string | undefined, Date | string>;
  /** The HTTP status answered. */
  status: number;
  outcome: string;
}

/** A secret, sealed (migrations/012_secrets.ts; controller/secrets/). */
export interface SecretsTable {
  name: string;
  /** '' for a secret every project may use. */
  project: ColumnType<string, string | undefined, string>;
  key_id: string;
  nonce: Buffer;
  sealed: Buffer;
  created_by: string;
  created_at: ColumnType<Date, Date | string | undefined, Date | string>;
  updated_by: string;
  updated_at: ColumnType<Date, Date | string | undefined, Date | string>;
}

export type Role = "viewer" | "submitter" | "operator" | "admin";

/** An API token; only its SHA-256 is stored (migrations/011_auth.ts). */
export interface ApiTokensTable {
  id: ColumnType<string, never, never>;
  name: string;
  role: Role;
  /** The projects it may see and touch; empty: all. */
  projects: ColumnType<string[], string | undefined, string>;
  token_hash: string;
  prefix: string;
  created_at: ColumnType<Date, Date | string | undefined, Date | string>;
  created_by: string;
  expires_at: OptionalTimestamp;
  revoked_at: OptionalTimestamp;
  last_used_at: OptionalTimestamp;
}

/** A join token for agents; only its SHA-256 is stored (migrations/013_agent_auth.ts). */
export interface AgentJoinTokensTable {
  id: ColumnType<string, never, never>;
  token_hash: string;
  prefix: string;
  description: Generated<string>;
  labels: ColumnType<Record<string, string>, string | undefined, string>;
  /** null: unlimited. */
  max_uses: number | null;
  uses: Generated<number>;
  created_at: ColumnType<Date, Date | string | undefined, Date | string>;
  created_by: string;
  expires_at: OptionalTimestamp;
  revoked_at: OptionalTimestamp;
  last_used_at: OptionalTimestamp;
}

export type AuditOutcome = "allowed" | "denied" | "failed";

/** Append-only: a trigger refuses UPDATE and DELETE (migrations/011_auth.ts). */
export interface AuditLogTable {
  id: ColumnType<string, never, never>;
  at: ColumnType<Date, Date | string | undefined, never>;
  actor: string;
  action: string;
  target: string;
  outcome: AuditOutcome;
  detail: ColumnType<Record<string, unknown>, string | undefined, never>;
  source: string;
}

export interface Database {
  runs: RunsTable;
  run_attempts: RunAttemptsTable;
  log_chunks: LogChunksTable;
  agents: AgentsTable;
  source_bundles: SourceBundlesTable;
  repos: ReposTable;
  repo_refs: RepoRefsTable;
  repo_commits: RepoCommitsTable;
  job_definitions: JobDefinitionsTable;
  repo_pushes: RepoPushesTable;
  repo_syncs: RepoSyncsTable;
  schedule_ticks: ScheduleTicksTable;
  webhook_deliveries: WebhookDeliveriesTable;
  stdin_chunks: StdinChunksTable;
  commit_statuses: CommitStatusesTable;
  secrets: SecretsTable;
  api_tokens: ApiTokensTable;
  agent_join_tokens: AgentJoinTokensTable;
  audit_log: AuditLogTable;
}

export type RunRow = Selectable<RunsTable>;
export type NewRun = Insertable<RunsTable>;
export type RunUpdate = Updateable<RunsTable>;
export type LogChunkRow = Selectable<LogChunksTable>;
export type StdinChunkRow = Selectable<StdinChunksTable>;
export type AgentRow = Selectable<AgentsTable>;
export type RunAttemptRow = Selectable<RunAttemptsTable>;
export type RepoRow = Selectable<ReposTable>;
export type RepoSyncRow = Selectable<RepoSyncsTable>;
export type JobDefinitionRow = Selectable<JobDefinitionsTable>;
export type ScheduleTickRow = Selectable<ScheduleTicksTable>;
export type CommitStatusRow = Selectable<CommitStatusesTable>;
export type WebhookDeliveryRow = Selectable<WebhookDeliveriesTable>;
export type SecretRow = Selectable<SecretsTable>;
export type ApiTokenRow = Selectable<ApiTokensTable>;
export type AgentJoinTokenRow = Selectable<AgentJoinTokensTable>;
export type AuditRow = Selectable<AuditLogTable>;
