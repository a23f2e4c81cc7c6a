/**
 * A fresh embedded database is a copy of a template, not a new cluster: PGlite's
 * initdb takes seconds (tens on a busy machine), copying a directory a fraction
 * of one. `npm run build` makes the template once (scripts/pglite-template.mjs):
 * dist/pglite-template/, an initialised and migrated PGlite data dir. Where it
 * is missing (running from sources), a new data dir is made by initdb as before.
 */
import { cpSync, existsSync, readdirSync, renameSync, rmSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

/** dist/pglite-template, next to dist/controller/ (this file is dist/controller/store/template.js once built). */
export const TEMPLATE_DIR = fileURLToPath(new URL("../../pglite-template", import.meta.url));

/**
 * Makes `dataDir` a copy of the template when it holds no database yet (it is
 * missing or empty). Copied beside it and renamed into place, so a copy cut
 * short never looks like a database. True when it did.
 */
export function seedFromTemplate(dataDir: string, template: string = TEMPLATE_DIR): boolean {
  if (!existsSync(join(template, "PG_VERSION"))) return false;
  if (existsSync(dataDir) && readdirSync(dataDir).length > 0) return false;
  const tmp = join(dirname(dataDir), `.${basename(dataDir)}.seeding-${process.pid}`);
  rmSync(tmp, { recursive: true, force: true });
  try {
    cpSync(template, tmp, { recursive: true });
    rmSync(dataDir, { recursive: true, force: true });
    renameSync(tmp, dataDir);
  } catch (err) {
    rmSync(tmp, { recursive: true, force: true });
    throw err;
  }
  return true;
}
