/**
 * The Action's entry point (action.yml: runs.main → dist/index.js, this file
 * bundled): read the inputs, run, exit. Everything else is in run.ts.
 */
import * as core from "@actions/core";
import { readSettings } from "./settings.js";
import { runAction } from "./run.js";

const read = readSettings((name) => core.getInput(name));
if (!read.ok) {
  for (const e of read.errors) core.error(e);
  core.setFailed(`${read.errors.length} problem(s) with the Action's inputs; see the errors above (action/README.md lists every input)`);
} else {
  process.exitCode = await runAction(read.settings);
}
// Nothing should be left to wait for; should something be (a stream the controller never ended), exit anyway.
setTimeout(() => process.exit(), 5_000).unref();
