#!/usr/bin/env node
import { execute, settings } from "@oclif/core";

// bin/run.js always runs the compiled commands in dist/. Without this, oclif
// looks for TypeScript sources whenever NODE_ENV is "test" or "development" and
// prints warnings into stderr, which belongs to the job's bytes in `hodei run`.
settings.enableAutoTranspile = false;

await execute({ dir: import.meta.url });
// Commands close what they open; a stray handle (a gRPC channel's timer, a
// PGlite worker) must not keep a finished command alive. stdout and stderr are
// synchronous for files and pipes on POSIX, so nothing written is lost.
process.exit();
