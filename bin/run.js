#!/usr/bin/env node
import { execute } from "@oclif/core";

await execute({ dir: import.meta.url });
// Commands close what they open; a stray handle (a gRPC channel's timer, a
// PGlite worker) must not keep a finished command alive. stdout and stderr are
// synchronous for files and pipes on POSIX, so nothing written is lost.
process.exit();
