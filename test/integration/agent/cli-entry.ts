// Runs `hodei agent` from source (node --import tsx), with oclif's error
// handling, as bin/run.js does for the built command.
import { fileURLToPath } from "node:url";
import { handle } from "@oclif/core";
import AgentCommand from "../../../cli/commands/agent.js";

await AgentCommand.run(process.argv.slice(2), fileURLToPath(new URL("../../../", import.meta.url))).catch(handle);
