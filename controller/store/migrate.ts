import { Migrator, type Migration, type MigrationProvider, type Kysely } from "kysely";
import * as m001 from "./migrations/001_initial.js";
import * as m002 from "./migrations/002_attempts.js";
import * as m003 from "./migrations/003_request_hash.js";
import * as m004 from "./migrations/004_source_bundles.js";
import * as m005 from "./migrations/005_stdin.js";
import * as m006 from "./migrations/006_gitops.js";
import * as m007 from "./migrations/007_schedule_ticks.js";
import * as m008 from "./migrations/008_webhook_deliveries.js";
import * as m009 from "./migrations/009_commit_statuses.js";
import * as m010 from "./migrations/010_in_place.js";
import * as m011 from "./migrations/011_auth.js";
import * as m012 from "./migrations/012_secrets.js";
import * as m013 from "./migrations/013_agent_auth.js";
import * as m014 from "./migrations/014_run_changes.js";

/** Migrations live in code so the built package carries them; names sort in order. */
const migrations: Record<string, Migration> = {
  "001_initial": m001,
  "002_attempts": m002,
  "003_request_hash": m003,
  "004_source_bundles": m004,
  "005_stdin": m005,
  "006_gitops": m006,
  "007_schedule_ticks": m007,
  "008_webhook_deliveries": m008,
  "009_commit_statuses": m009,
  "010_in_place": m010,
  "011_auth": m011,
  "012_secrets": m012,
  "013_agent_auth": m013,
  "014_run_changes": m014,
};

const provider: MigrationProvider = { getMigrations: async () => migrations };

/**
 * Brings the schema to the latest migration. Safe when several controllers
 * start at once: kysely creates its tables tolerating a concurrent creator,
 * then its Postgres adapter holds a session advisory lock (per database)
 * around the migration transaction, so one applies and the others, once they
 * get the lock, find nothing to do (test/integration/store/migrate.test.ts).
 */
export async function migrateToLatest(db: Kysely<unknown>): Promise<string[]> {
  const migrator = new Migrator({ db, provider, migrationTableName: "hodei_migrations", migrationLockTableName: "hodei_migrations_lock" });
  const { error, results } = await migrator.migrateToLatest();
  if (error) {
    throw new Error(`database migration failed: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
  }
  return (results ?? []).filter((r) => r.status === "Success").map((r) => r.migrationName);
}
