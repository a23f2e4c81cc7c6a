/**
 * StreamLogs: the stored backlog from from_seq, then (with follow) live chunks
 * from the hub, across retries, then the run's end. The hub subscription is
 * taken before the backlog is read, so nothing committed in between is missed;
 * chunks already sent are dropped by sequence number, and a gap (chunks
 * committed while we were reading) is filled from the store.
 */
import type { ServerWritableStream } from "@grpc/grpc-js";
import type { Attempt, LogEvent, LogEntry, StreamLogsRequest } from "../../proto/gen/hodei/v1/control.js";
import type { Db } from "../store/db.js";
import type { RunRow } from "../store/schema.js";
import type { LogHub } from "../logs/hub.js";
import { getRun } from "../store/runs.js";
import { readChunks } from "../store/logs.js";
import { listAttempts } from "../store/attempts.js";
import { isTerminal } from "../runs/transitions.js";
import { attemptToProto, runToProto } from "./convert.js";
import { notFound } from "./errors.js";

/** Chunks read per query: bounded so a 64 KiB-chunk backlog stays ~16 MiB at most. */
const PAGE = 256;

export async function streamLogs(db: Db, hub: LogHub, call: ServerWritableStream<StreamLogsRequest, LogEvent>): Promise<void> {
  const req = call.request;
  const first = await getRun(db, req.runId);
  if (!first) throw notFound(`run ${req.runId}`);
  let attempt = req.attempt || first.attempt;
  let next = req.fromSeq;
  let ended: RunRow | undefined;
  const attemptsOver = new Set<number>();
  let live: LogEntry[] = [];
  let wakeUp: (() => void) | undefined;
  let gone = false;
  const poke = (): void => wakeUp?.();
  call.on("cancelled", () => {
    gone = true;
    poke();
  });
  const unsubscribe = req.follow
    ? hub.subscribe(first.id, {
        chunks: (_a, entries) => {
          live.push(...entries);
          poke();
        },
        attemptEnd: (a) => {
          attemptsOver.add(a.attempt);
          poke();
        },
        end: (r) => {
          ended = r;
          poke();
        },
      })
    : () => {};

  const write = async (ev: LogEvent): Promise<void> => {
    if (!call.write(ev)) await new Promise<void>((resolve) => call.once("drain", resolve));
  };
  const drainStored = async (): Promise<void> => {
    for (;;) {
      const rows = await readChunks(db, first.id, attempt, next, PAGE);
      for (const c of rows) {
        await write({ event: { $case: "chunk", value: { seq: Number(c.seq), stream: c.stream, data: c.data, tsMs: Number(c.ts_ms), attempt } } });
        next = Number(c.seq) + 1;
      }
      if (rows.length < PAGE || gone) return;
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
  };

  try {
    await drainStored();
    if (!req.follow) return;
    // The run may have moved on (or ended) before we subscribed.
    const now = await getRun(db, first.id);
    if (now && isTerminal(now.state) && now.attempt === attempt) ended = now;
    for (let a = attempt; now && a < now.attempt; a++) attemptsOver.add(a);
    while (!gone) {
      if (attemptsOver.has(attempt)) {
        await finishAttempt();
        continue;
      }
      const batch = live;
      live = [];
      for (const e of batch) {
        if (e.attempt !== attempt || e.seq < next) continue;
        if (e.seq > next) {
          await drainStored();
          if (e.seq < next) continue;
        }
        await write({ event: { $case: "chunk", value: e } });
        next = e.seq + 1;
      }
      if (ended && live.length === 0 && ended.attempt === attempt) {
        await drainStored();
        await write({ event: { $case: "end", value: runToProto((await getRun(db, ended.id)) ?? ended) } });
        return;
      }
      if (live.length === 0 && !attemptsOver.has(attempt)) await new Promise<void>((resolve) => (wakeUp = resolve));
      wakeUp = undefined;
    }
  } finally {
    unsubscribe();
  }
}
