import { Flags } from "@oclif/core";
import { chmod, lstat, mkdir, rm, writeFile } from "node:fs/promises";
import { hostname } from "node:os";
import { isIP } from "node:net";
import { join, resolve } from "node:path";
import { HodeiCommand } from "../../base.js";
import { noColorFlag } from "../../flags.js";
import { CliError, UsageError } from "../../errors.js";
import { CA_MIN_DAYS, issue, makeCa, type Issued } from "../../certs.js";
import { table } from "../../format.js";

/** The --json output. */
export interface CertsInitJson {
  dir: string;
  ca: CertJson;
  server: CertJson & { hosts: string[] };
  agents: (CertJson & { name: string })[];
  files: { path: string; mode: string; what: string }[];
}

interface CertJson {
  cert: string;
  key: string;
  subject: string;
  notAfter: string;
  fingerprintSha256: string;
}

const DEFAULT_DIR = "hodei-certs";
/** A file name part: no path separators, no leading dot, nothing a shell would mangle. */
const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;
const DNS_NAME = /^(\*\.)?([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$/;

/** localhost, the loopback addresses, this machine's name, then --hosts; each once, in that order. */
export function serverHosts(extra: readonly string[], host = hostname()): string[] {
  const all = ["localhost", "127.0.0.1", "::1", host, ...extra].map((h) => h.trim().replace(/^\[|\]$/g, "")).filter(Boolean);
  for (const h of all) {
    if (isIP(h) === 0 && (h.length > 253 || !DNS_NAME.test(h))) throw new UsageError(`--hosts: "${h}" is neither an IP address nor a DNS name`);
  }
  return [...new Set(all.map((h) => (isIP(h) ? h : h.toLowerCase())))];
}

/** --agent NAME... as given, or agent names 1..N from --agents. */
export function agentNames(names: readonly string[] | undefined, count: number | undefined): string[] {
  if (names?.length && count !== undefined) throw new UsageError("give --agent NAME (once per agent) or --agents N, not both");
  const list = names?.length ? [...names] : Array.from({ length: count ?? 1 }, (_, i) => String(i + 1));
  for (const n of list) if (!NAME.test(n)) throw new UsageError(`--agent: "${n}" must be 1 to 63 letters, digits, '.', '_' or '-', starting with a letter or digit`);
  const dup = list.find((n, i) => list.indexOf(n) !== i);
  if (dup) throw new UsageError(`--agent: "${dup}" is given twice`);
  return list;
}

async function exists(path: string): Promise<boolean> {
  try {
    await lstat(path);
    return true;
  } catch {
    return false;
  }
}

export default class CertsInit extends HodeiCommand {
  static override summary = "Make a private CA, a controller certificate and agent certificates for TLS and mutual TLS.";
  static override description = `Writes into --out (default ./${DEFAULT_DIR}):
  ca.crt, ca.key            the CA: give ca.crt to every agent and CLI (--ca) and to the controller (--tls-client-ca); keep ca.key offline
  server.crt, server.key    the controller's certificate (--tls-cert, --tls-key), valid for localhost, 127.0.0.1, ::1, this machine's name and --hosts
  agent-NAME.crt, .key      one client certificate per agent (--cert, --key)
Keys are written mode 0600, certificates 0644, the folder 0700 when it is made. Existing files are never overwritten without --force. Keys are ECDSA P-256; the CA is valid for at least ${CA_MIN_DAYS} days, the others for --days. See docs/security.md, "TLS".`;
  static override examples = [
    "<%= config.bin %> certs init --hosts ci.example.com,10.0.0.5 --agents 3",
    "<%= config.bin %> certs init --out /etc/hodei/tls --hosts ci.example.com --agent builder-1 --agent builder-2",
  ];
  // Offline: no --controller (or --ca). HodeiCommand is kept for its error and --json handling.
  static override baseFlags = { "no-color": noColorFlag } as unknown as typeof HodeiCommand.baseFlags;
  static override flags = {
    out: Flags.string({ description: `folder for the files (default: ./${DEFAULT_DIR})`, helpValue: "DIR" }),
    hosts: Flags.string({ description: "more names and addresses the controller is reached by, comma-separated (its certificate names them)", helpValue: "H1,H2" }),
    agents: Flags.integer({ description: "how many agent certificates to make, named 1..N (default: 1)", min: 1, max: 1000 }),
    agent: Flags.string({ description: "make an agent certificate with this name (repeat for more)", multiple: true, helpValue: "NAME" }),
    days: Flags.integer({ description: "how long the server and agent certificates are valid", default: 365, min: 1, max: 36500 }),
    force: Flags.boolean({ description: "overwrite files that exist", default: false }),
  };

  async run(): Promise<CertsInitJson> {
    const { flags } = await this.parse(CertsInit);
    const dir = resolve(flags.out ?? DEFAULT_DIR);
    const hosts = serverHosts(flags.hosts ? flags.hosts.split(",") : []);
    const names = agentNames(flags.agent, flags.agents);

    const planned: { file: string; what: string }[] = [
      { file: "ca", what: "CA" },
      { file: "server", what: "controller" },
      ...names.map((n) => ({ file: `agent-${n}`, what: `agent ${n}` })),
    ];
    const paths = planned.flatMap((p) => [join(dir, `${p.file}.crt`), join(dir, `${p.file}.key`)]);
    // Every check before the first write: a refusal leaves nothing half made.
    if (!flags.force) {
      const taken = [];
      for (const p of paths) if (await exists(p)) taken.push(p);
      if (taken.length) throw new UsageError(`refusing to overwrite ${taken.join(", ")}; give --force to replace them, or --out another folder`);
    }

    const ca = await makeCa("Hodei CA", Math.max(CA_MIN_DAYS, flags.days));
    const server = await issue(ca, { name: "hodei controller", purpose: "server", hosts, days: flags.days });
    const agents: Issued[] = [];
    for (const n of names) agents.push(await issue(ca, { name: `hodei agent ${n}`, purpose: "client", days: flags.days }));

    try {
      await mkdir(dir, { recursive: true, mode: 0o700 });
      const all = [ca.pem, server, ...agents];
      for (const [i, p] of planned.entries()) {
        await write(join(dir, `${p.file}.key`), all[i]!.key, 0o600, flags.force);
        await write(join(dir, `${p.file}.crt`), all[i]!.cert, 0o644, flags.force);
      }
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      throw new CliError(`cannot write the certificates to ${dir}: ${e.code === "EEXIST" ? `${e.path} appeared meanwhile` : (e.code ?? e.message)}`, { cause: err });
    }

    const json = (p: string, c: Issued): CertJson => ({
      cert: join(dir, `${p}.crt`),
      key: join(dir, `${p}.key`),
      subject: c.subject,
      notAfter: c.notAfter.toISOString(),
      fingerprintSha256: c.fingerprint,
    });
    const out: CertsInitJson = {
      dir,
      ca: json("ca", ca.pem),
      server: { ...json("server", server), hosts },
      agents: names.map((n, i) => ({ name: n, ...json(`agent-${n}`, agents[i]!) })),
      files: planned.flatMap((p) => [
        { path: join(dir, `${p.file}.crt`), mode: "0644", what: `${p.what} certificate` },
        { path: join(dir, `${p.file}.key`), mode: "0600", what: `${p.what} private key` },
      ]),
    };
    if (this.jsonEnabled()) return out;

    process.stdout.write(table(["FILE", "MODE", "WHAT"], out.files.map((f) => [f.path, f.mode, f.what])));
    const d = (f: string): string => join(dir, f);
    process.stdout.write(
      `\nThe controller's certificate names: ${hosts.join(", ")}. Valid until ${server.notAfter.toISOString().slice(0, 10)}.\n` +
        `\nController:  hodei controller --listen 0.0.0.0:7070 --tls-cert ${d("server.crt")} --tls-key ${d("server.key")} --tls-client-ca ${d("ca.crt")} ...\n` +
        `Agent:       hodei agent --controller HOST:7070 --ca ${d("ca.crt")} --cert ${d(`agent-${names[0]}.crt`)} --key ${d(`agent-${names[0]}.key`)}\n` +
        `CLI:         hodei runs ls --controller HOST:7070 --ca ${d("ca.crt")}   (or HODEI_CA=${d("ca.crt")})\n` +
        `\nKeep ca.key off the controller and the agents: it signs certificates they would all trust.\n`,
    );
    return out;
  }
}

/**
 * Writes `data` into a new file made with `mode` (O_EXCL: never through a
 * symlink, never into a file someone else opened). With `force` the old file
 * goes first, so a key never sits for a moment under an old file's wider mode.
 */
async function write(path: string, data: string, mode: number, force: boolean): Promise<void> {
  if (force) await rm(path, { force: true });
  await writeFile(path, data, { mode, flag: "wx" });
  // The umask may have narrowed a certificate's 0644.
  await chmod(path, mode);
}
