#!/usr/bin/env node
/**
 * Builds the GitHub Action's bundle, action/dist/index.js: action/src/main.ts
 * and everything it imports (Hodei's client, job loader, @actions/core,
 * grpc-js, ...) in one ES module that runs with no node_modules, on Node 20
 * and later (action.yml runs it on node24). The bundle is committed; the
 * output depends only on the sources and esbuild's version, so
 * test/unit/action-bundle.test.ts rebuilds it into a temporary file and fails
 * when the committed one differs.
 *
 *   node scripts/build-action.mjs [OUT_FILE]   (default action/dist/index.js)
 *
 * Two things esbuild needs told:
 * - grpc-js and other CommonJS packages call require(); an ES module has
 *   none, so the banner makes one (createRequire).
 * - cli/embedded.ts is shared with `hodei embedded serve`, whose daemon
 *   loads the controller, PGlite and pino with dynamic import(). The Action
 *   never runs the daemon in its own process (mode: embedded starts the
 *   packaged `hodei`, see action/src/embedded.ts), so those imports are
 *   replaced by a module that throws if ever reached, instead of pulling
 *   PGlite (which needs its WebAssembly files beside it) into the bundle.
 */
import { build } from "esbuild";
import { mkdirSync, readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const out = resolve(process.argv[2] ?? join(root, "action/dist/index.js"));

/** The daemon's own modules, imported dynamically by cli/embedded.ts: not in the Action. */
const DAEMON_ONLY = /^(\.\.\/controller\/(server|store\/db|store\/runs)\.js|pino)$/;

const notInBundle = {
  name: "daemon-not-in-the-action",
  setup(b) {
    b.onResolve({ filter: DAEMON_ONLY }, (args) =>
      args.importer.endsWith(join("cli", "embedded.ts")) && args.kind === "dynamic-import" ? { path: args.path, namespace: "not-in-the-action" } : undefined,
    );
    b.onLoad({ filter: /.*/, namespace: "not-in-the-action" }, (args) => ({
      contents: `throw new Error(${JSON.stringify(`${args.path} is not part of the GitHub Action's bundle: the embedded daemon runs in the packaged hodei`)});`,
      loader: "js",
    }));
  },
};

/** Embedded mode falls back to `npx hodei@VERSION`: the version the Action was built from. */
const version = JSON.parse(readFileSync(join(root, "package.json"), "utf8")).version;

mkdirSync(dirname(out), { recursive: true });
const result = await build({
  absWorkingDir: root,
  entryPoints: ["action/src/main.ts"],
  outfile: out,
  bundle: true,
  platform: "node",
  format: "esm",
  target: "node20",
  banner: { js: "// Built by scripts/build-action.mjs (npm run build:action) from action/src; do not edit.\nimport{createRequire as __cr}from'node:module';const require=__cr(import.meta.url);" },
  legalComments: "none",
  logLevel: "warning",
  metafile: true,
  define: { HODEI_ACTION_VERSION: JSON.stringify(version) },
  plugins: [notInBundle],
});
const bytes = Object.values(result.metafile.outputs).reduce((n, o) => n + o.bytes, 0);
process.stdout.write(`${out.startsWith(root) ? out.slice(root.length + 1) : out}: ${(bytes / 1024).toFixed(0)} KiB\n`);
