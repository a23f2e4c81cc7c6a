import { Command } from "@oclif/core";
import { noColorFlag } from "../../flags.js";

/** A single-quoted fish string. */
const q = (s: string): string => `'${s.replace(/\\/g, "\\\\").replace(/'/g, "\\'")}'`;
/** The first line of a summary, short enough for a completion menu. */
const short = (s: string | undefined): string => (s ?? "").split("\n")[0]!.replace(/\.$/, "").slice(0, 80);

/**
 * The fish completion script, from the commands oclif knows (ours and the
 * plugins'): subcommands by topic, then each command's flags. __hodei_words
 * gives the words typed so far that are not flags, so `hodei runs ` offers
 * runs' subcommands and `hodei runs ls --` the flags of runs ls.
 */
export function fishScript(bin: string, commands: readonly Command.Loadable[], topics: { name: string; description?: string }[]): string {
  const out: string[] = [
    `# fish completion for ${bin}: ${bin} autocomplete fish > ~/.config/fish/completions/${bin}.fish`,
    `function __${bin}_words`,
    `    set -l words (commandline -opc)`,
    `    set -e words[1]`,
    `    for w in $words`,
    `        string match -q -- '-*' $w; or echo $w`,
    `    end`,
    `end`,
    `# True when the words typed so far are exactly $argv (the command or topic being completed under).`,
    `function __${bin}_at`,
    `    set -l words (__${bin}_words)`,
    `    test (count $words) -eq (count $argv); and test "$words" = "$argv"`,
    `end`,
    `# True when the words typed so far start with $argv (a command, then its arguments).`,
    `function __${bin}_in`,
    `    set -l words (__${bin}_words)`,
    `    set -l n (count $argv)`,
    `    test (count $words) -ge $n; or return 1`,
    `    test "$words[1..$n]" = "$argv"`,
    `end`,
    `complete -c ${bin} -f -n '__${bin}_at' -l help -d 'Show help'`,
  ];
  const visible = commands.filter((c) => !c.hidden);
  // Subcommands and topics, under their parent.
  const children = new Map<string, Map<string, string>>();
  const addChild = (id: string, summary: string): void => {
    const parts = id.split(":");
    const parent = parts.slice(0, -1).join(" ");
    if (!children.has(parent)) children.set(parent, new Map());
    if (!children.get(parent)!.has(parts.at(-1)!)) children.get(parent)!.set(parts.at(-1)!, summary);
  };
  for (const t of topics) addChild(t.name, short(t.description));
  for (const c of visible) addChild(c.id, short(c.summary ?? c.description));
  for (const [parent, kids] of [...children].sort()) {
    for (const [name, summary] of [...kids].sort()) out.push(`complete -c ${bin} -f -n ${q(`__${bin}_at ${parent}`.trimEnd())} -a ${q(name)} -d ${q(summary)}`);
  }
  // Flags, for each command (and what follows it).
  for (const c of visible.sort((a, b) => a.id.localeCompare(b.id))) {
    const cond = q(`__${bin}_in ${c.id.replaceAll(":", " ")}`);
    for (const [name, f] of Object.entries(c.flags).sort()) {
      if (f.hidden) continue;
      let line = `complete -c ${bin} -n ${cond} -l ${name}`;
      if (f.char) line += ` -s ${f.char}`;
      if (f.type === "option") {
        line += " -r";
        if (f.options?.length) line += ` -f -a ${q(f.options.join(" "))}`;
      }
      line += ` -d ${q(short(f.summary ?? f.description))}`;
      out.push(line);
    }
  }
  return out.join("\n") + "\n";
}

export default class AutocompleteFish extends Command {
  static override summary = "Print the fish completion script (bash and zsh: hodei autocomplete bash|zsh).";
  static override description =
    "Completes commands, topics and flags (with their choices, e.g. --stream stdout|stderr). Install it once; run it again after upgrading hodei. " +
    "bash and zsh completion come from @oclif/plugin-autocomplete (hodei autocomplete bash, hodei autocomplete zsh), which has no fish support.";
  static override examples = ["<%= config.bin %> autocomplete fish > ~/.config/fish/completions/hodei.fish"];
  static override flags = { "no-color": noColorFlag };

  async run(): Promise<void> {
    await this.parse(AutocompleteFish);
    process.stdout.write(fishScript(this.config.bin, this.config.commands, this.config.topics));
  }
}
