// Runs one agent in its own process from source (node --import tsx) through
// startAgent() with the defaults `hodei agent` has, but without oclif: for
// tests that measure the agent process itself (its RSS), not the CLI's
// command tree. SIGTERM drains, as the CLI's does.
//   agent-entry.ts <controller> <work-dir> [log-level]
import { defaultLogger } from "../../../agent/config.js";
import { startAgent } from "../../../agent/index.js";

const [controller = "", workDir, level = "warn"] = process.argv.slice(2);
const agent = await startAgent({ controller, workDir, name: "entry-agent", logger: defaultLogger(level) });
let signals = 0;
process.on("SIGTERM", () => {
  if (++signals === 1) void agent.drain("received SIGTERM");
  else process.exit(143);
});
await agent.closed;
process.exit(0);
