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

export interface Database {
  runs: RunsTable;
  run_attempts: RunAttemptsTable;
  log_chunks: LogChunksTable;
  agents: AgentsTable;
  source_bundles: SourceBundlesTable;
  stdin_chunks: StdinChunksTable;
}

export type RunRow = Selectable<RunsTable>;
export type NewRun = Insertable<RunsTable>;
export type RunUpdate = Updateable<RunsTable>;
export type LogChunkRow = Selectable<LogChunksTable>;
export type StdinChunkRow = Selectable<StdinChunksTable>;
export type AgentRow = Selectable<AgentsTable>;
export type RunAttemptRow = Selectable<RunAttemptsTable>;
