/**
 * StreamLogs: the stored backlog from from_seq, then (with follow) live chunks
 * from the hub, then the run's end. The hub subscription is taken before the
 * backlog is read, so nothing committed in between is missed; chunks already
 * sent are dropped by sequence number.
 */
import type { ServerWritableStream } from "@grpc/grpc-js";
import type { LogEvent, LogEntry, StreamLogsRequest } from "../../proto/gen/hodei/v1/control.js";
import type { Db } from "../store/db.js";
import type { RunRow } from "../store/schema.js";
import type { LogHub } from "../logs/hub.js";
import { getRun } from "../store/runs.js";
import { readChunks } from "../store/logs.js";
import { isTerminal } from "../runs/transitions.js";
import { runToProto } from "./convert.js";
import { notFound } from "./errors.js";

/** Chunks read per query: bounded so a 64 KiB-chunk backlog stays ~16 MiB at most. */
const PAGE = 256;

export async function streamLogs(db: Db, hub: LogHub, call: ServerWritableStream<StreamLogsRequest, LogEvent>): Promise<void> {
  const req = call.request;
  const run = await getRun(db, req.runId);
  if (!run) throw notFound(`run ${req.runId}`);
  const attempt = req.attempt || run.attempt;
  let next = req.fromSeq;
  let ended: RunRow | undefined;
  let live: LogEntry[] = [];
  let wakeUp: (() => void) | undefined;
  let gone = false;
  call.on("cancelled", () => {
    gone = true;
    wakeUp?.();
  });
  const unsubscribe = req.follow
    ? hub.subscribe(run.id, {
        chunks: (a, entries) => {
          if (a !== attempt) return;
          live.push(...entries);
          wakeUp?.();
        },
        end: (r) => {
          ended = r;
          wakeUp?.();
        },
      })
    : () => {};
  try {
    const write = async (ev: LogEvent): Promise<void> => {
      if (!call.write(ev)) await new Promise<void>((resolve) => call.once("drain", resolve));
    };
    const drainStored = async (): Promise<void> => {
      for (;;) {
        const rows = await readChunks(db, run.id, attempt, next, PAGE);
        for (const c of rows) {
          await write({ event: { $case: "chunk", value: { seq: Number(c.seq), stream: c.stream, data: c.data, tsMs: Number(c.ts_ms), attempt } } });
          next = Number(c.seq) + 1;
        }
        if (rows.length < PAGE || gone) return;
      }
    };
    await drainStored();
    if (!req.follow) return;
    // The run may have ended before we subscribed.
    const now = await getRun(db, run.id);
    if (now && (isTerminal(now.state) || now.attempt !== attempt)) ended = now;
    while (!gone) {
      const batch = live;
      live = [];
      for (const e of batch) {
        if (e.seq < next) continue;
        if (e.seq > next) {
          // Chunks stored before our subscription but after our read: fetch them from the store.
          await drainStored();
          if (e.seq < next) continue;
        }
        await write({ event: { $case: "chunk", value: e } });
        next = e.seq + 1;
      }
      if (ended && live.length === 0) {
        await drainStored();
        await write({ event: { $case: "end", value: runToProto((await getRun(db, ended.id)) ?? ended) } });
        return;
      }
      if (live.length === 0) await new Promise<void>((resolve) => (wakeUp = resolve));
      wakeUp = undefined;
    }
  } finally {
    unsubscribe();
  }
}
