#!/usr/bin/env node
import { execute, settings } from "@oclif/core";

// bin/run.js always runs the compiled commands in dist/. Without this, oclif
// looks for TypeScript sources whenever NODE_ENV is "test" or "development" and
// prints warnings into stderr, which belongs to the job's bytes in `hodei run`.
settings.enableAutoTranspile = false;

// `hodei version`, as people type it after other CLIs (-h is in package.json).
const argv = process.argv.slice(2);
if (argv.length === 1 && argv[0] === "version") argv[0] = "--version";
await execute({ args: argv, dir: import.meta.url });
// Commands close what they open; a stray handle (a gRPC channel's timer, a
// PGlite worker) must not keep a finished command alive. But a pipe's writes
// can still be pending (it holds 64 KiB): exit only once they have left.
const { flushOutput } = await import("../dist/cli/output.js");
await flushOutput();
process.exit();
