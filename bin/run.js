#!/usr/bin/env node
// `hodei --version` (and `hodei version`) answers before oclif loads, which alone
// takes most of a second: oclif's own line, hodei/VERSION PLATFORM-ARCH node-vX.
const argv = process.argv.slice(2);
if (argv.length === 1 && (argv[0] === "--version" || argv[0] === "version")) {
  const { readFileSync } = await import("node:fs");
  const { release } = await import("node:os");
  const { name, version } = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8"));
  const platform = process.platform === "linux" && /microsoft/i.test(release()) ? "wsl" : process.platform;
  const arch = process.arch === "ia32" ? "x86" : process.arch;
  process.stdout.write(`${name}/${version} ${platform}-${arch} node-${process.version}\n`);
  process.exit(0);
}

const { execute, settings } = await import("@oclif/core");
// Loaded before the command runs, not after: a module read once the embedded daemon has shut down
// its controller could hang that process (seen: the read of this file never completing).
const { flushOutput } = await import("../dist/cli/output.js");
// bin/run.js always runs the compiled commands in dist/. Without this, oclif
// looks for TypeScript sources whenever NODE_ENV is "test" or "development" and
// prints warnings into stderr, which belongs to the job's bytes in `hodei run`.
settings.enableAutoTranspile = false;

await execute({ args: argv, dir: import.meta.url });
// Commands close what they open; a stray handle (a gRPC channel's timer, a
// PGlite worker) must not keep a finished command alive. But a pipe's writes
// can still be pending (it holds 64 KiB): exit only once they have left.
await flushOutput();
process.exit();
