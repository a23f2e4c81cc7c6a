/**
 * Stdin chunk SQL (`hodei run -i`). A run's stdin is one sequence of chunks
 * numbered from 0, shared by all its attempts, stored idempotently by
 * (run, seq): a chunk resent after a reconnect is answered as stored and
 * written nothing. The run row holds the next sequence expected, the bytes so
 * far and whether eof is stored; the append locks it, so two controllers
 * writing one run's stdin take turns. Every stored chunk is announced
 * (`stdin:appended`): with a notifying bus the NOTIFY rides in the
 * transaction, so it is heard only once the bytes are durable.
 */
import { sql } from "kysely";
import type { Db } from "./db.js";
import type { StdinChunkRow } from "./schema.js";
import type { Writer } from "./runs.js";
import { CHANNEL, encode } from "../bus/wire.js";
import { isTerminal } from "../runs/transitions.js";

export interface StdinInput {
  seq: number;
  data: Uint8Array;
  eof: boolean;
}

/**
 * What an append did: `stored` (or already stored: a resend) with the next
 * sequence expected, or why nothing was: no such run, a run without stdin, a
 * run that has ended, a chunk past the next expected one, data after eof, or
 * stdin over `maxBytes`.
 */
export type AppendStdinResult =
  | { kind: "stored"; nextSeq: number }
  | { kind: "not_found" }
  | { kind: "no_stdin" }
  | { kind: "ended"; state: string }
  | { kind: "gap"; nextSeq: number }
  | { kind: "closed" }
  | { kind: "too_large"; bytes: number };

export async function appendStdin(s: Writer, runId: string, chunk: StdinInput, maxBytes: number): Promise<AppendStdinResult> {
  /** This call stored the chunk (not a resend): it announces it. */
  let wrote = false;
  const result = await s.db.transaction().execute(async (tx): Promise<AppendStdinResult> => {
    const run = await tx
      .selectFrom("runs")
      .select(["state", "stdin", "stdin_next", "stdin_bytes", "stdin_eof"])
      .where("id", "=", runId)
      .forUpdate()
      .executeTakeFirst();
    if (!run) return { kind: "not_found" };
    if (!run.stdin) return { kind: "no_stdin" };
    const next = Number(run.stdin_next);
    if (chunk.seq < next) return { kind: "stored", nextSeq: next }; // a resend
    if (isTerminal(run.state)) return { kind: "ended", state: run.state };
    if (run.stdin_eof) return { kind: "closed" };
    if (chunk.seq > next) return { kind: "gap", nextSeq: next };
    const bytes = Number(run.stdin_bytes) + chunk.data.byteLength;
    if (bytes > maxBytes) return { kind: "too_large", bytes };
    await tx
      .insertInto("stdin_chunks")
      .values({ run_id: runId, seq: chunk.seq, data: Buffer.from(chunk.data.buffer, chunk.data.byteOffset, chunk.data.byteLength), eof: chunk.eof })
      .onConflict((oc) => oc.columns(["run_id", "seq"]).doNothing())
      .execute();
    await tx.updateTable("runs").set({ stdin_next: chunk.seq + 1, stdin_bytes: bytes, stdin_eof: chunk.eof }).where("id", "=", runId).execute();
    wrote = true;
    if (s.bus.notifies) await sql`select pg_notify(${CHANNEL}, ${encode({ type: "stdin:appended", runId, nextSeq: chunk.seq + 1 }, s.bus.origin)})`.execute(tx);
    return { kind: "stored", nextSeq: chunk.seq + 1 };
  });
  if (wrote && result.kind === "stored") s.bus.emit({ type: "stdin:appended", runId, nextSeq: result.nextSeq });
  return result;
}

/**
 * Stored stdin chunks of a run from `fromSeq`, in order: at most `limit`
 * chunks and, past the first, at most `maxBytes` of data (as readChunks).
 */
export async function readStdin(db: Db, runId: string, fromSeq: number, limit: number, maxBytes = 4 << 20): Promise<StdinChunkRow[]> {
  const r = await sql<StdinChunkRow>`
    select c.run_id, c.seq, c.data, c.eof from (
      select seq, row_number() over (order by seq) as n, sum(octet_length(data)) over (order by seq) as upto
      from stdin_chunks
      where run_id = ${runId} and seq >= ${String(fromSeq)}
      order by seq limit ${limit}
    ) page
    join stdin_chunks c on c.run_id = ${runId} and c.seq = page.seq
    -- the first row always, then rows while the total stays within the budget
    where page.n = 1 or page.upto <= ${maxBytes}
    order by c.seq`.execute(db);
  return r.rows;
}
