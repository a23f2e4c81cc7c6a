/**
 * Log chunk SQL. Chunks are stored idempotently by (run, attempt, seq): a chunk
 * resent after a reconnect is dropped by the primary key.
 */
import { sql } from "kysely";
import type { Db } from "./db.js";
import type { LogChunkRow } from "./schema.js";
import type { Writer } from "./runs.js";
import { ACTIVE } from "./runs.js";

export interface ChunkInput {
  seq: number;
  stream: number;
  data: Uint8Array;
  tsMs: number;
}

/**
 * Stores contiguous chunks of an active attempt and advances runs.log_chunks,
 * in one transaction, and announces them (`log:appended`: in this process at
 * once, with the chunks themselves; to other processes after the commit,
 * coalesced per run). Returns the run's next expected sequence, or
 * undefined when the attempt is no longer active (late or fenced-off report).
 */
export async function appendChunks(s: Writer, runId: string, attempt: number, chunks: ChunkInput[]): Promise<number | undefined> {
  const next = await s.db.transaction().execute(async (tx) => {
    const last = chunks[chunks.length - 1];
    if (!last) return undefined;
    const run = await tx
      .updateTable("runs")
      .set((eb) => ({ log_chunks: eb.fn("greatest", ["log_chunks", eb.val(String(last.seq + 1))]) }))
      .where("id", "=", runId)
      .where("attempt", "=", attempt)
      .where("state", "in", ACTIVE)
      .returning("log_chunks")
      .executeTakeFirst();
    if (!run) return undefined;
    await tx
      .insertInto("log_chunks")
      .values(
        chunks.map((c) => ({ run_id: runId, attempt, seq: c.seq, stream: c.stream, data: Buffer.from(c.data.buffer, c.data.byteOffset, c.data.byteLength), ts_ms: c.tsMs })),
      )
      .onConflict((oc) => oc.columns(["run_id", "attempt", "seq"]).doNothing())
      .execute();
    return Number(run.log_chunks);
  });
  if (next !== undefined) {
    s.bus.emit({ type: "log:appended", runId, attempt, nextSeq: next, chunks });
    s.bus.forwardLog({ type: "log:appended", runId, attempt, nextSeq: next });
  }
  return next;
}

/**
 * Stored chunks of one attempt from `fromSeq`, in order: at most `limit`
 * chunks and, past the first, at most `maxBytes` of data (an agent may store
 * chunks of up to 16 MiB, so a page counted in chunks alone is unbounded).
 * octet_length of a stored bytea reads its header, not its data, so only the
 * rows returned are read in full.
 */
export async function readChunks(db: Db, runId: string, attempt: number, fromSeq: number, limit: number, maxBytes = 4 << 20): Promise<LogChunkRow[]> {
  const r = await sql<LogChunkRow>`
    select c.run_id, c.attempt, c.seq, c.stream, c.data, c.ts_ms from (
      select seq, row_number() over (order by seq) as n, sum(octet_length(data)) over (order by seq) as upto
      from log_chunks
      where run_id = ${runId} and attempt = ${attempt} and seq >= ${String(fromSeq)}
      order by seq limit ${limit}
    ) page
    join log_chunks c on c.run_id = ${runId} and c.attempt = ${attempt} and c.seq = page.seq
    -- the first row always (whatever its size, even with no budget), then rows while the total stays within the budget
    where page.n = 1 or page.upto <= ${maxBytes}
    order by c.seq`.execute(db);
  return r.rows;
}

/** Bytes stored for one attempt's log (the log size limit's count after a reconnect). */
export async function logBytesOf(db: Db, runId: string, attempt: number): Promise<number> {
  const r = await db
    .selectFrom("log_chunks")
    .select((eb) => eb.fn.coalesce(eb.fn.sum<string>(sql<number>`octet_length(data)`), sql<string>`0`).as("n"))
    .where("run_id", "=", runId)
    .where("attempt", "=", attempt)
    .executeTakeFirstOrThrow();
  return Number(r.n);
}
