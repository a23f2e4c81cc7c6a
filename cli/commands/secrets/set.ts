import { readFile } from "node:fs/promises";
import { Args, Flags } from "@oclif/core";
import { HodeiCommand } from "../../base.js";
import { UsageError } from "../../errors.js";
import { secretJson } from "../../secrets-format.js";

/** Read no further than this (the controller's limit is 64 KiB): a wrong file is refused, not slurped. */
const READ_LIMIT = 64 * 1024 + 1;

export default class SecretsSet extends HodeiCommand {
  static override summary = "Create or replace a secret; jobs get it through spec.secrets.";
  static override description = `The value is read from a file or from stdin, byte for byte (a trailing newline is kept: use printf, not echo), sent once, and stored sealed (AES-256-GCM) under the controller's master key. No command ever shows it again.

A secret without --project is available to every project; a project's own secret of the same name wins.`;
  static override examples = [
    "printf %s \"$NPM_TOKEN\" | <%= config.bin %> secrets set NPM_TOKEN --from-stdin",
    "<%= config.bin %> secrets set KUBECONFIG --project deploy --from-file ~/.kube/config",
  ];
  static override args = { name: Args.string({ description: "secret name: letters, digits and _ (e.g. NPM_TOKEN)", required: true }) };
  static override flags = {
    project: Flags.string({ description: "the project whose jobs may use it (default: every project)", default: "" }),
    "from-file": Flags.string({ description: "read the value from this file", exclusive: ["from-stdin"] }),
    "from-stdin": Flags.boolean({ description: "read the value from stdin", exclusive: ["from-file"] }),
  };

  async run(): Promise<Record<string, unknown>> {
    const { args, flags } = await this.parse(SecretsSet);
    let value: Buffer;
    if (flags["from-file"]) {
      value = await readFile(flags["from-file"]).catch((err: NodeJS.ErrnoException) => {
        throw new UsageError(`cannot read ${flags["from-file"]}: ${err.code === "ENOENT" ? "no such file" : err.message}`);
      });
    } else if (flags["from-stdin"] || !process.stdin.isTTY) {
      value = await readStdin();
    } else {
      throw new UsageError("give the value with --from-stdin (e.g. printf %s \"$VALUE\" | hodei secrets set NAME --from-stdin) or --from-file FILE; it is not taken on the command line, where shells and ps would keep it");
    }
    if (value.length > READ_LIMIT - 1) throw new UsageError(`the value is over 64 KiB; the limit is 64 KiB`);
    if (value.length === 0) throw new UsageError("the value is empty");
    if (value.at(-1) === 0x0a && !this.jsonEnabled()) process.stderr.write("hodei: note: the value ends with a newline, which is kept (printf %s, not echo, leaves it out)\n");
    const client = await this.connect(flags.controller);
    const s = await client.setSecret(args.name, flags.project, value);
    value.fill(0);
    if (!this.jsonEnabled()) process.stdout.write(`${s.replaced ? "replaced" : "created"} secret ${s.name}${s.project ? ` for project ${s.project}` : " for every project"}\n`);
    return secretJson(s);
  }
}

async function readStdin(): Promise<Buffer> {
  const parts: Buffer[] = [];
  let n = 0;
  for await (const chunk of process.stdin) {
    parts.push(chunk as Buffer);
    n += (chunk as Buffer).length;
    if (n >= READ_LIMIT) break;
  }
  return Buffer.concat(parts);
}
