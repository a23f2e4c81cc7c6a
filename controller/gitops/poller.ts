/**
 * Polling, for repositories without webhooks (and as a safety net for missed
 * deliveries): every repo whose poll interval has passed since its last sync
 * is synced; a ref that moved is a push like a webhook's (gitops/pushes.ts).
 * With several controllers, each polls; the sync lease serialises them and
 * the runs' idempotency keys keep a push from running twice.
 */
import type { Logger } from "pino";
import type { Db } from "../store/db.js";
import { listRepos } from "../store/repos.js";
import type { Syncer } from "./sync.js";

/** How often the poller looks for a repo that is due. */
const TICK_MS = 1_000;

export function startPoller(db: Db, syncer: Syncer, log: Logger, tickMs = TICK_MS): () => void {
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  const inFlight = new Set<string>();
  const tick = async (): Promise<void> => {
    try {
      const now = Date.now();
      for (const r of await listRepos(db)) {
        if (stopped) return;
        if (r.poll_interval_ms <= 0 || inFlight.has(r.id)) continue;
        const last = r.last_sync_at?.getTime() ?? 0;
        if (now - last < r.poll_interval_ms) continue;
        inFlight.add(r.id);
        // Failures are recorded on the repo (repos get); the next interval retries.
        syncer
          .sync(r, "poll")
          .catch(() => {})
          .finally(() => inFlight.delete(r.id));
      }
    } catch (err) {
      log.warn({ err }, "poller could not list repositories");
    } finally {
      if (!stopped) timer = setTimeout(() => void tick(), tickMs);
    }
  };
  timer = setTimeout(() => void tick(), tickMs);
  return () => {
    stopped = true;
    if (timer) clearTimeout(timer);
  };
}
