import { Migrator, type Migration, type MigrationProvider, type Kysely } from "kysely";
import * as m001 from "./migrations/001_initial.js";

/** Migrations live in code so the built package carries them; names sort in order. */
const migrations: Record<string, Migration> = {
  "001_initial": m001,
};

const provider: MigrationProvider = { getMigrations: async () => migrations };

/**
 * Brings the schema to the latest migration. Safe when several controllers
 * start at once: kysely's Postgres adapter takes an advisory lock inside the
 * migration transaction, so one applies and the others find nothing to do.
 */
export async function migrateToLatest(db: Kysely<unknown>): Promise<string[]> {
  const migrator = new Migrator({ db, provider, migrationTableName: "hodei_migrations", migrationLockTableName: "hodei_migrations_lock" });
  const { error, results } = await migrator.migrateToLatest();
  if (error) {
    throw new Error(`database migration failed: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
  }
  return (results ?? []).filter((r) => r.status === "Success").map((r) => r.migrationName);
}
