/**
 * Writes controller/store/schema.snapshot.txt: the schema the migrations
 * produce, from a freshly migrated in-memory PGlite (nothing to install).
 * test/integration/store/schema.test.ts fails while the file is out of date.
 *
 *   npx tsx scripts/db-schema.ts          # rewrite the snapshot
 *   npx tsx scripts/db-schema.ts --check  # exit 1 if it is out of date (CI)
 */
import { readFileSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { PGlite } from "@electric-sql/pglite";
import type { Kysely } from "kysely";
import { openStore } from "../controller/store/db.js";
import { schemaSnapshot } from "../controller/store/introspect.js";

const SNAPSHOT_PATH = fileURLToPath(new URL("../controller/store/schema.snapshot.txt", import.meta.url));

async function currentSchemaText(): Promise<string> {
  const pglite = await PGlite.create(); // no data dir: in memory
  try {
    const store = await openStore({ pglite });
    try {
      return await schemaSnapshot(store.db as unknown as Kysely<unknown>);
    } finally {
      await store.close();
    }
  } finally {
    await pglite.close();
  }
}

async function main(): Promise<void> {
  const text = await currentSchemaText();
  let committed: string | undefined;
  try {
    committed = readFileSync(SNAPSHOT_PATH, "utf8");
  } catch {
    committed = undefined;
  }
  if (process.argv.includes("--check")) {
    if (committed !== text) {
      console.error(`${SNAPSHOT_PATH} is out of date: run npx tsx scripts/db-schema.ts and commit it`);
      process.exitCode = 1;
    }
    return;
  }
  if (committed === text) {
    console.log(`${SNAPSHOT_PATH} is up to date`);
    return;
  }
  writeFileSync(SNAPSHOT_PATH, text);
  console.log(`wrote ${SNAPSHOT_PATH}`);
}

await main();
