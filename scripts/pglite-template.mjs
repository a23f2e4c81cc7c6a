#!/usr/bin/env node
/**
 * Part of `npm run build`, after tsc: makes dist/pglite-template/, a fresh
 * PGlite data dir with every migration applied. The store copies it for a new
 * embedded database instead of running initdb (controller/store/template.ts).
 * Rebuilt only when the PGlite version or the migrations change (the stamp
 * beside it says which it was made from).
 */
import { createHash } from "node:crypto";
import { existsSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { join } from "node:path";
import { performance } from "node:perf_hooks";

const dist = fileURLToPath(new URL("../dist/", import.meta.url));
const out = join(dist, "pglite-template");
const stampFile = `${out}.stamp`;
const migrations = join(dist, "controller/store/migrations");
const pglite = JSON.parse(readFileSync(fileURLToPath(new URL("../node_modules/@electric-sql/pglite/package.json", import.meta.url)), "utf8")).version;
const hash = createHash("sha256").update(`pglite ${pglite}\n`).update(readFileSync(fileURLToPath(import.meta.url)));
for (const f of [...readdirSync(migrations).filter((f) => f.endsWith(".js")).sort(), "../migrate.js"]) hash.update(`${f}\n`).update(readFileSync(join(migrations, f)));
const stamp = hash.digest("hex");

if (existsSync(join(out, "PG_VERSION")) && existsSync(stampFile) && readFileSync(stampFile, "utf8").trim() === stamp) {
  process.stdout.write("dist/pglite-template: up to date\n");
  process.exit(0);
}
const tmp = `${out}.tmp`;
rmSync(tmp, { recursive: true, force: true });
// A computed path: the store is in dist/ only after tsc (and dependency-cruiser need not resolve it).
const { openStore } = await import(new URL("../dist/controller/store/db.js", import.meta.url).href);
const t0 = performance.now();
const store = await openStore({ dataDir: tmp, template: false });
await store.close();
// Hodei uses one database, "postgres"; initdb's template0 and template1 are two thirds of the
// files a copy must create (file creation, not bytes, is what a copy costs), so they go.
const { PGlite } = await import("@electric-sql/pglite");
const pg = await PGlite.create(tmp);
for (const db of ["template0", "template1"]) {
  await pg.query(`ALTER DATABASE ${db} IS_TEMPLATE false`);
  await pg.query(`DROP DATABASE ${db}`);
}
await pg.query("CHECKPOINT");
await pg.close();
rmSync(join(tmp, "postmaster.pid"), { force: true });
rmSync(out, { recursive: true, force: true });
renameSync(tmp, out);
writeFileSync(stampFile, `${stamp}\n`);
process.stdout.write(`dist/pglite-template: made in ${((performance.now() - t0) / 1000).toFixed(1)} s\n`);
process.exit(0);
