/**
 * StreamLogs: the stored backlog from from_seq, then (with follow) live chunks
 * across retries, then the run's end.
 *
 * The follower subscribes to the hub before reading the backlog, so nothing
 * committed in between is missed; chunks already sent are dropped by sequence
 * number, and a gap is filled from the store. Memory is bounded per follower:
 * live chunks (shared with every other follower) are buffered up to
 * LIVE_BUFFER_BYTES, past which the follower drops them and reads from the
 * store at its own pace; writes wait for the client to drain; and a client
 * that goes away unsubscribes at once, even while a write is waiting.
 * Chunks announced by another controller carry no bytes and are read from the
 * store too. An event that may end an attempt or the run (finished, retried,
 * requeued, or a bus catch-up) makes the follower re-read the run.
 */
import type { ServerWritableStream } from "@grpc/grpc-js";
import type { Attempt, LogEvent, LogEntry, StreamLogsRequest } from "../../proto/gen/hodei/v1/control.js";
import type { Db } from "../store/db.js";
import type { LogHub } from "../logs/hub.js";
import { getRun } from "../store/runs.js";
import { readChunks } from "../store/logs.js";
import { listAttempts } from "../store/attempts.js";
import { isTerminal } from "../runs/transitions.js";
import { attemptToProto, runToProto } from "./convert.js";
import { notFound } from "./errors.js";

/** Chunks read per query; each page is also capped by bytes (readChunks). */
const PAGE = 256;
const PAGE_BYTES = 4 << 20;
/** Live bytes a follower may hold before it falls back to reading the store. */
export const LIVE_BUFFER_BYTES = 16 << 20;

/** `visible`: whether the caller may see the run (its token's projects); an invisible run is not found. */
export async function streamLogs(db: Db, hub: LogHub, call: ServerWritableStream<StreamLogsRequest, LogEvent>, visible: (run: { project: string }) => boolean = () => true): Promise<void> {
  const req = call.request;
  const first = await getRun(db, req.runId);
  if (!first || !visible(first)) throw notFound(`run ${req.runId}`);
  let attempt = req.attempt || first.attempt;
  let next = req.fromSeq;
  let live: LogEntry[] = [];
  let liveBytes = 0;
  /** Chunks may be in the store that are not in `live`. */
  let behind = false;
  /** The run may have changed: read it again. */
  let check = true;
  let gone = false;
  let wakeUp: (() => void) | undefined;
  let drained: (() => void) | undefined;
  const poke = (): void => wakeUp?.();

  let unsubscribe = (): void => {};
  const leave = (): void => {
    gone = true;
    unsubscribe();
    live = [];
    poke();
    drained?.();
  };
  call.on("cancelled", leave);
  call.on("close", leave);
  if (req.follow) {
    unsubscribe = hub.subscribe(first.id, (ev) => {
      if (ev.type === "log:appended") {
        if (!ev.chunks || ev.attempt !== attempt || behind) {
          behind = true;
        } else {
          for (const c of ev.chunks) {
            const data = Buffer.isBuffer(c.data) ? c.data : Buffer.from(c.data.buffer, c.data.byteOffset, c.data.byteLength);
            live.push({ seq: c.seq, stream: c.stream, data, tsMs: c.tsMs, attempt: ev.attempt });
            liveBytes += c.data.byteLength;
          }
          if (liveBytes > LIVE_BUFFER_BYTES) {
            // A slow reader: forget the bytes, read them from the store when it catches up.
            live = [];
            liveBytes = 0;
            behind = true;
          }
        }
      } else if (ev.type === "bus:resync" || ev.type === "run:finished" || ev.type === "run:retried" || ev.type === "run:requeued") {
        // Only these can end an attempt or the run; the others (created, assigned, started, cancelled) cannot.
        check = true;
      } else {
        return;
      }
      poke();
    });
  }

  const write = async (ev: LogEvent): Promise<void> => {
    if (gone) return;
    if (!call.write(ev)) await new Promise<void>((resolve) => {
      drained = () => {
        drained = undefined;
        call.off("drain", onDrain);
        resolve();
      };
      const onDrain = (): void => drained?.();
      call.once("drain", onDrain);
    });
  };
  const drainStored = async (): Promise<void> => {
    for (;;) {
      const rows = await readChunks(db, first.id, attempt, next, PAGE, PAGE_BYTES);
      for (const c of rows) {
        await write({ event: { $case: "chunk", value: { seq: Number(c.seq), stream: c.stream, data: c.data, tsMs: Number(c.ts_ms), attempt } } });
        next = Number(c.seq) + 1;
      }
      if (rows.length === 0 || gone) return;
    }
  };
  /** The current attempt is over: send what is left of it and its end, then move to the next. */
  const finishAttempt = async (): Promise<void> => {
    await drainStored();
    const rec = (await listAttempts(db, first.id)).find((a) => a.attempt === attempt);
    const value: Attempt | undefined = rec ? attemptToProto(rec) : undefined;
    if (value) await write({ event: { $case: "attemptEnd", value } });
    attempt += 1;
    next = 0;
    live = [];
    liveBytes = 0;
    behind = true;
  };

  try {
    await drainStored();
    if (!req.follow) return;
    while (!gone) {
      if (check) {
        check = false;
        const now = await getRun(db, first.id);
        if (now && now.attempt > attempt) {
          await finishAttempt();
          check = true;
          continue;
        }
        if (now && isTerminal(now.state) && now.attempt === attempt) {
          await drainStored();
          await write({ event: { $case: "end", value: runToProto(now) } });
          return;
        }
      }
      if (behind) {
        behind = false;
        live = [];
        liveBytes = 0;
        await drainStored();
        continue;
      }
      const batch = live;
      live = [];
      liveBytes = 0;
      for (const e of batch) {
        if (gone) break;
        if (e.attempt !== attempt || e.seq < next) continue;
        if (e.seq > next) {
          await drainStored();
          if (e.seq < next) continue;
        }
        await write({ event: { $case: "chunk", value: e } });
        next = e.seq + 1;
      }
      if (!gone && !check && !behind && live.length === 0) await new Promise<void>((resolve) => (wakeUp = resolve));
      wakeUp = undefined;
    }
  } finally {
    unsubscribe();
  }
}
