#!/usr/bin/env node
/**
 * Writes oclif.manifest.json, part of `npm run build` (after tsc), so it is
 * never stale. Without it, oclif imports every command file (and all they
 * import: the controller, PGlite, gRPC, Ajv) on every start, even for
 * `hodei --version`; with it, only the command being run is loaded.
 * What `oclif manifest` does, without the 51 MB `oclif` package.
 */
import { writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { Plugin, settings } from "@oclif/core";

settings.enableAutoTranspile = false;
const root = fileURLToPath(new URL("..", import.meta.url));
const plugin = new Plugin({ root, type: "core", ignoreManifest: true, errorOnManifestCreate: true, respectNoCacheDefault: true, isRoot: true });
await plugin.load();
const out = new URL("../oclif.manifest.json", import.meta.url);
writeFileSync(out, JSON.stringify(plugin.manifest, null, 2) + "\n");
process.stdout.write(`oclif.manifest.json: ${Object.keys(plugin.manifest.commands).length} commands\n`);
process.exit(0);
