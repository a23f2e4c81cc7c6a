/**
 * Log chunk SQL. Chunks are stored idempotently by (run, attempt, seq): a chunk
 * resent after a reconnect is dropped by the primary key.
 */
import type { Db } from "./db.js";
import type { LogChunkRow } from "./schema.js";

export interface ChunkInput {
  seq: number;
  stream: number;
  data: Uint8Array;
  tsMs: number;
}

/**
 * Stores contiguous chunks of an active attempt and advances runs.log_chunks,
 * in one transaction. Returns the run's next expected sequence, or undefined
 * when the attempt is no longer active (late or fenced-off report).
 */
export async function appendChunks(db: Db, runId: string, attempt: number, chunks: ChunkInput[]): Promise<number | undefined> {
  return db.transaction().execute(async (tx) => {
    const last = chunks[chunks.length - 1];
    if (!last) return undefined;
    const run = await tx
      .updateTable("runs")
      .set((eb) => ({ log_chunks: eb.fn("greatest", ["log_chunks", eb.val(String(last.seq + 1))]) }))
      .where("id", "=", runId)
      .where("attempt", "=", attempt)
      .where("state", "in", ["assigned", "running"])
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
}

/** Stored chunks of one attempt from `fromSeq`, in order, at most `limit`. */
export async function readChunks(db: Db, runId: string, attempt: number, fromSeq: number, limit: number): Promise<LogChunkRow[]> {
  return db
    .selectFrom("log_chunks")
    .selectAll()
    .where("run_id", "=", runId)
    .where("attempt", "=", attempt)
    .where("seq", ">=", String(fromSeq))
    .orderBy("seq")
    .limit(limit)
    .execute();
}
