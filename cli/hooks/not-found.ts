/**
 * `hodei runs nosuch`: oclif's command_not_found hook. Says what exists and
 * the closest command, and exits 2 (a usage error, cli/errors.ts).
 */
import type { Hook } from "@oclif/core";
import { closest } from "../../schemas/suggest.js";
import { EXIT } from "../errors.js";

const hook: Hook<"command_not_found"> = async function (opts) {
  const bin = opts.config.bin;
  const shown = (id: string): string => id.replaceAll(":", " ");
  const commands = opts.config.commands.filter((c) => !c.hidden).map((c) => c.id);
  const ids = [...commands, ...opts.config.topics.map((t) => t.name)];
  const typed = shown(opts.id);
  const [topic] = opts.id.split(":");
  const inTopic = commands.filter((id) => id.startsWith(`${topic}:`));
  const guess = closest(opts.id, ids) ?? (inTopic.length > 0 ? closest(opts.id.slice(topic!.length + 1), inTopic.map((id) => id.slice(topic!.length + 1))) : undefined);
  const suggestion = guess === undefined ? undefined : inTopic.length > 0 && !guess.includes(":") && !ids.includes(guess) ? `${topic} ${guess}` : shown(guess);
  let message = `"${typed}" is not a ${bin} command.`;
  if (suggestion) message += ` Did you mean \`${bin} ${suggestion}\`?`;
  if (inTopic.length > 0) message += `\nCommands under "${topic}": ${inTopic.map((id) => shown(id).slice(topic!.length + 1)).join(", ")}.`;
  message += `\nSee \`${bin} --help\` for every command.`;
  process.stderr.write(`Error: ${message}\n`);
  process.exitCode = EXIT.usage;
  // Stop oclif from printing its own message and exiting 127.
  this.exit(EXIT.usage);
};

export default hook;
