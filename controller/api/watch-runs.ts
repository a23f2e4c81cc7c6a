/**
 * WatchRuns: a snapshot of runs, then their changes as they commit, with a
 * resume point (proto/hodei/v1/control.proto, "Watching").
 *
 * The stream subscribes to the bus before its first read, and every run event
 * (or bus:resync) only marks it dirty: the loop then reads everything changed
 * since its last point (controller/store/watch.ts), so bursts coalesce into
 * one read and nothing committed between reads is missed. Which kind an event
 * is comes from comparing the run with what this stream last sent of it.
 */
import type { ServerWritableStream } from "@grpc/grpc-js";
import type { Logger } from "pino";
import type { RunWatchEvent, WatchRunsRequest } from "../../proto/gen/hodei/v1/control.js";
import type { Store } from "../store/db.js";
import type { RunView } from "../store/runs.js";
import { currentPoint, runsChangedSince, runsSnapshot, type Point, type WatchFilter } from "../store/watch.js";
import { isTerminal, RUN_STATES, type RunState } from "../runs/transitions.js";
import { PROJECT_NAME, principalOf, projectFilter } from "../auth/principal.js";
import { runToProto } from "./convert.js";
import { invalid } from "./errors.js";
import { streamWriter } from "./stream-writer.js";

export const DEFAULT_SNAPSHOT = 1000;
export const MAX_SNAPSHOT = 10_000;
const MAX_NAMES = 100;
const MAX_NAME = 200;
/** What the stream remembers of runs it sent, to name the next change; the oldest finished ones go first past this. */
const MAX_KNOWN = 20_000;
const TOKEN_PREFIX = "w1:";
const STATES = new Set<string>(RUN_STATES);

interface Known {
  state: RunState;
  attempt: number;
  agentId: string | null;
}

function names(what: string, list: string[], shape?: RegExp): string[] {
  if (list.length > MAX_NAMES) throw invalid(`at most ${MAX_NAMES} ${what} may be given, got ${list.length}`);
  for (const n of list) {
    if (!n || n.length > MAX_NAME) throw invalid(`${what}: each must be 1 to ${MAX_NAME} characters`);
    if (shape && !shape.test(n)) throw invalid(`${what}: "${n.slice(0, 100)}" is not a valid name`);
  }
  return list;
}

/** The request's filters, intersected with what the caller may see. */
export function watchFilter(req: WatchRunsRequest, call: object): WatchFilter {
  const bad = req.states.find((s) => !STATES.has(s));
  if (bad !== undefined) throw invalid(`unknown state "${bad.slice(0, 100)}"; expected one of ${RUN_STATES.join(", ")}`);
  const asked = names("projects", req.projects, PROJECT_NAME);
  const allowed = projectFilter(principalOf(call));
  let projects: readonly string[] | undefined = asked.length ? asked : undefined;
  if (allowed) projects = (projects ?? allowed).filter((p) => allowed.includes(p));
  return { projects, jobs: names("jobs", req.jobs), repos: names("repos", req.repos), states: req.states as RunState[] };
}

const XIDS = /^(\d{1,20}):(\d{1,20}):((?:\d{1,20})(?:,\d{1,20}){0,9999})?$/;

/** A client's resume token as a point, refusing anything PostgreSQL would not have printed for this database. */
export function pointOfToken(token: string, now: Point): Point {
  const fail = (why: string) => invalid(`resume_token is not one this controller gave out (${why}); reconnect without it for a fresh snapshot`);
  if (token.length > 200_000 || !token.startsWith(TOKEN_PREFIX)) throw fail("unknown format");
  const point = token.slice(TOKEN_PREFIX.length);
  const m = XIDS.exec(point);
  if (!m) throw fail("malformed");
  const xmin = BigInt(m[1]!);
  const xmax = BigInt(m[2]!);
  const xip = m[3] ? m[3].split(",").map(BigInt) : [];
  if (xmin > xmax || xmin === 0n) throw fail("malformed");
  for (const x of xip) if (x < xmin || x >= xmax) throw fail("malformed");
  const nowMax = BigInt(now.split(":")[1]!);
  if (xmax > nowMax) throw fail("from the future or another database");
  return point;
}

const tokenOf = (p: Point): string => TOKEN_PREFIX + p;

function kindOf(run: RunView, before: Known | undefined, maxSnapshotId: bigint): string {
  if (!before) return BigInt(run.id) > maxSnapshotId && run.attempt === 1 && run.state === "queued" ? "created" : "changed";
  if (isTerminal(run.state) && !isTerminal(before.state)) return "finished";
  if (run.attempt > before.attempt) return run.state === "queued" ? "attempt_finished" : "changed";
  if (run.state === "assigned" && before.state !== "assigned") return "assigned";
  if (run.state === "running" && before.state !== "running") return "started";
  return "changed";
}

export async function watchRuns(store: Store, call: ServerWritableStream<WatchRunsRequest, RunWatchEvent>, _log: Logger): Promise<void> {
  const req = call.request;
  const filter = watchFilter(req, call);
  if (req.snapshotLimit < 0 || req.snapshotLimit > MAX_SNAPSHOT) throw invalid(`snapshot_limit must be 0 to ${MAX_SNAPSHOT}, got ${req.snapshotLimit}`);
  const limit = req.snapshotLimit || DEFAULT_SNAPSHOT;
  let point: Point | undefined = req.resumeToken ? pointOfToken(req.resumeToken, await currentPoint(store.db)) : undefined;

  const out = streamWriter(call);
  const unsubscribe = store.bus.subscribe((ev) => {
    if (ev.type.startsWith("run:") || ev.type === "bus:resync") out.poke();
  });
  out.onLeave(unsubscribe);
  const known = new Map<string, Known>();
  /** Runs above this id that this stream had not seen are new ("created"). */
  let maxSnapshotId = 0n;
  const remember = (r: RunView): void => {
    known.delete(r.id);
    known.set(r.id, { state: r.state, attempt: r.attempt, agentId: r.agent_id });
    if (known.size > MAX_KNOWN) {
      for (const [id, k] of known) {
        if (known.size <= MAX_KNOWN) break;
        if (isTerminal(k.state)) known.delete(id);
      }
    }
  };

  const snapshot = async (): Promise<Point> => {
    const snap = await runsSnapshot(store.db, filter, limit);
    for (const r of snap.runs) {
      remember(r);
      if (BigInt(r.id) > maxSnapshotId) maxSnapshotId = BigInt(r.id);
      await out.write({ kind: "snapshot", run: runToProto(r), resumeToken: "" });
    }
    await out.write({ kind: "snapshot_end", run: undefined, resumeToken: tokenOf(snap.point) });
    return snap.point;
  };

  try {
    // A resumed stream does not know what its client holds: every change it sends is news, and a run out of the states filter is "left".
    const resumed = point !== undefined;
    if (point === undefined) point = await snapshot();
    else out.poke();
    while (!out.gone) {
      await out.wait();
      if (out.gone) break;
      const changed = await runsChangedSince(store.db, point, filter, limit);
      if (changed.runs.length > limit) {
        known.clear();
        await out.write({ kind: "reset", run: undefined, resumeToken: "" });
        point = await snapshot();
        continue;
      }
      let last: RunWatchEvent | undefined;
      for (const r of changed.runs) {
        const before = known.get(r.id);
        let msg: RunWatchEvent;
        if (filter.states.length && !filter.states.includes(r.state)) {
          if (!before && !resumed) continue;
          known.delete(r.id);
          msg = { kind: "left", run: runToProto(r), resumeToken: "" };
        } else {
          msg = { kind: kindOf(r, before, maxSnapshotId), run: runToProto(r), resumeToken: "" };
          remember(r);
        }
        if (last) await out.write(last);
        last = msg;
      }
      point = changed.point;
      await out.write(last ? { ...last, resumeToken: tokenOf(point) } : { kind: "checkpoint", run: undefined, resumeToken: tokenOf(point) });
    }
  } finally {
    unsubscribe();
  }
}
