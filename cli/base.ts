/**
 * What every command shares: --json, --controller, and the way errors become
 * a short message on stderr and an exit code.
 */
import { join } from "node:path";
import { Command, Flags } from "@oclif/core";
import { readFileSync } from "node:fs";
import { ControlClient, tokenFromEnv } from "./client.js";
import { CliError, ControllerError, EXIT, exitCodeFor } from "./errors.js";
import { defaultDataDir, ensureDaemon, tokenFileOf } from "./embedded.js";
import { cliCredentials } from "./tls.js";

/** The port `hodei controller` listens on by default. */
export const DEFAULT_CONTROLLER_PORT = 7070;

/** HOST → HOST:7070; HOST:PORT, [v6]:PORT and unix: addresses are kept as given. */
export function withDefaultPort(address: string): string {
  if (address.startsWith("unix:")) return address;
  if (!address.startsWith("[") && (address.match(/:/g) ?? []).length > 1) return `[${address}]:${DEFAULT_CONTROLLER_PORT}`; // a bare IPv6 address
  return /:\d+$/.test(address) ? address : `${address}:${DEFAULT_CONTROLLER_PORT}`;
}

function readTokenFile(path: string): string | undefined {
  try {
    return readFileSync(path, "utf8").trim() || undefined;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw err;
  }
}

export abstract class HodeiCommand extends Command {
  static override enableJsonFlag = true;

  static override baseFlags = {
    controller: Flags.string({
      description: "controller address HOST[:PORT] (port 7070 when left out); without it an embedded controller is used",
      env: "HODEI_CONTROLLER",
      helpGroup: "GLOBAL",
    }),
    ca: Flags.string({
      description: "PEM CA certificate that signed the controller's certificate: talk to it over TLS (docs/security.md, \"TLS\")",
      env: "HODEI_CA",
      helpGroup: "GLOBAL",
      helpValue: "FILE",
    }),
  };

  private cleanups: (() => Promise<void>)[] = [];
  /** The exit code of a failure that has no code of its own (cli/errors.ts): 125. */
  protected readonly otherFailureExit: number = EXIT.failure;
  /** The embedded controller's log, when this command started one: where an internal error's details are. */
  private embeddedLog?: string;

  /**
   * A client for the configured controller, or for the embedded daemon (started
   * when none runs; it always has its local agent, so `withAgent` is moot).
   */
  protected async connect(controller: string | undefined, _opts: { withAgent?: boolean } = {}): Promise<ControlClient> {
    let address = controller ? withDefaultPort(controller) : undefined;
    let token: string | undefined;
    if (!address) {
      const dataDir = defaultDataDir();
      address = await ensureDaemon(dataDir);
      this.embeddedLog = join(dataDir, "controller.log");
      // The daemon's own admin token, in the owner's 0700 data dir: zero configuration for its owner.
      // A `hodei controller --data-dir` found there instead has none in that file: then HODEI_TOKEN as for any controller.
      token = readTokenFile(tokenFileOf(dataDir)) ?? tokenFromEnv();
    } else {
      token = tokenFromEnv();
    }
    // --ca is a base flag: read it here rather than have every command pass it along.
    const { flags } = await this.parse(this.ctor as typeof HodeiCommand);
    const client = new ControlClient(address, cliCredentials(address, flags.ca), token);
    this.cleanups.unshift(async () => client.close());
    return client;
  }

  protected async closeConnections(): Promise<void> {
    const all = this.cleanups;
    this.cleanups = [];
    for (const c of all) await c().catch(() => {});
  }

  protected override async finally(err: Error | undefined): Promise<void> {
    await this.closeConnections();
    return super.finally(err);
  }

  /** Every failure leaves here: a message on stderr (or --json) and the exit code exitCodeFor picks. */
  protected override async catch(err: Error & { oclif?: { exit?: number } }): Promise<void> {
    // oclif's own exits and parse errors (exit 2) keep their behaviour.
    if (!(err instanceof CliError) && err.oclif?.exit !== undefined) return super.catch(err);
    // Anything else not thrown on purpose is still hodei failing, and exits as such.
    const e = err instanceof CliError ? err : new CliError(err.message || String(err), { cause: err });
    const exitCode = exitCodeFor(e, this.otherFailureExit);
    let message = e.message;
    if (e instanceof ControllerError && e.kind === "internal" && this.embeddedLog) message += ` (${this.embeddedLog})`;
    process.exitCode = exitCode;
    if (this.jsonEnabled()) {
      const remote = e instanceof ControllerError ? { kind: e.kind, retryable: e.retryable, correlationId: e.correlationId } : {};
      this.logJson({ error: { name: e.name, message, exitCode, ...remote } });
    } else {
      process.stderr.write(`Error: ${message}\n`);
      if (e !== err && process.env.DEBUG) process.stderr.write(`${err.stack}\n`);
    }
  }
}
