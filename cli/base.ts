/**
 * What every command shares: --json, --controller, --ca, --no-color, the
 * controller it talks to (flags > environment > current context > embedded:
 * cli/contexts.ts), and the way errors become a short message on stderr (or
 * an `{"error": ...}` object with --json) and an exit code (cli/errors.ts).
 */
import { join } from "node:path";
import { Command, Flags } from "@oclif/core";
import { readFileSync } from "node:fs";
import { ControlClient, tokenFromEnv } from "./client.js";
import { CliError, ControllerError, ControllerUnreachableError, EXIT, exitCodeFor, UsageError } from "./errors.js";
import { defaultDataDir, ensureDaemon, tokenFileOf } from "./embedded.js";
import { cliCredentials } from "./tls.js";
import { noColorFlag } from "./flags.js";
import { configFile, currentContext } from "./contexts.js";

/** Where the controller a command talks to came from (docs/cli-conventions.md, "Contexts"). */
export interface Target {
  /** undefined: the embedded controller. */
  address?: string;
  from: "flag" | "env" | "context" | "embedded";
  /** The context, when `from` is "context". */
  context?: string;
  ca?: string;
  caFrom?: "flag" | "env" | "context";
  /** Where the token comes from: an environment variable, the context's token file, or none (the embedded daemon's own). */
  tokenFrom: "HODEI_TOKEN" | "HODEI_TOKEN_FILE" | "context" | "none";
  tokenFile?: string;
}

/** Was `--NAME` (or `--NAME=...`) given on this command line, rather than by its environment variable? */
const onCommandLine = (argv: readonly string[], name: string): boolean => argv.some((a) => a === `--${name}` || a.startsWith(`--${name}=`));

/** Flags > environment > current context > embedded, for the controller, its CA and the token. */
export function resolveTarget(flags: { controller?: string; ca?: string }, argv: readonly string[], env: NodeJS.ProcessEnv = process.env): Target {
  const tokenEnv = env.HODEI_TOKEN ? "HODEI_TOKEN" : env.HODEI_TOKEN_FILE ? "HODEI_TOKEN_FILE" : undefined;
  const caFrom = flags.ca ? (onCommandLine(argv, "ca") ? "flag" : "env") : undefined;
  if (flags.controller) {
    return { address: withDefaultPort(flags.controller), from: onCommandLine(argv, "controller") ? "flag" : "env", ca: flags.ca, caFrom, tokenFrom: tokenEnv ?? "none", tokenFile: tokenEnv === "HODEI_TOKEN_FILE" ? env.HODEI_TOKEN_FILE : undefined };
  }
  const ctx = currentContext(configFile(env));
  if (ctx) {
    const ca = flags.ca ?? ctx.ca;
    const tokenFrom = tokenEnv ?? (ctx.tokenFile ? "context" : "none");
    const tokenFile = tokenFrom === "context" ? ctx.tokenFile : tokenFrom === "HODEI_TOKEN_FILE" ? env.HODEI_TOKEN_FILE : undefined;
    return { address: withDefaultPort(ctx.controller), from: "context", context: ctx.name, ca, caFrom: caFrom ?? (ctx.ca ? "context" : undefined), tokenFrom, tokenFile };
  }
  return { from: "embedded", ca: flags.ca, caFrom, tokenFrom: tokenEnv ?? "none" };
}

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
    "no-color": noColorFlag,
  };

  protected override async init(): Promise<void> {
    // Before anything prints: every colour decision reads NO_COLOR (cli/format.ts).
    if (onCommandLine(this.argv, "no-color")) process.env.NO_COLOR = "1";
    await super.init();
  }

  private cleanups: (() => Promise<void>)[] = [];
  /** The exit code of a failure that has no code of its own (cli/errors.ts): 125. */
  protected readonly otherFailureExit: number = EXIT.failure;
  /** The embedded controller's log, when this command started one: where an internal error's details are. */
  private embeddedLog?: string;
  /** The controller connect() chose, for messages. */
  protected target?: Target;

  /**
   * A client for the configured controller, or for the embedded daemon (started
   * when none runs; it always has its local agent, so `withAgent` is moot).
   */
  protected async connect(controller: string | undefined, _opts: { withAgent?: boolean } = {}): Promise<ControlClient> {
    // --ca is a base flag: read it here rather than have every command pass it along.
    const { flags } = await this.parse(this.ctor as typeof HodeiCommand);
    const target = resolveTarget({ controller, ca: flags.ca }, this.argv);
    this.target = target;
    let address = target.address;
    let token: string | undefined;
    if (!address) {
      const dataDir = defaultDataDir();
      address = await ensureDaemon(dataDir);
      this.embeddedLog = join(dataDir, "controller.log");
      // The daemon's own admin token, in the owner's 0700 data dir: zero configuration for its owner.
      // A `hodei controller --data-dir` found there instead has none in that file: then HODEI_TOKEN as for any controller.
      token = readTokenFile(tokenFileOf(dataDir)) ?? tokenFromEnv();
    } else if (target.tokenFrom === "context") {
      token = readTokenFile(target.tokenFile!);
      if (token === undefined) throw new UsageError(`the token file ${target.tokenFile} of context ${target.context} does not exist or is empty; fix it with hodei context add ${target.context} --controller ${target.address} --token-file FILE`);
    } else {
      token = tokenFromEnv();
    }
    const client = new ControlClient(address, cliCredentials(address, target.ca), token);
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
    if (e instanceof ControllerUnreachableError && this.target?.from === "context") {
      message += `\n(${this.target.address} is context ${this.target.context}'s controller: fix it with hodei context add ${this.target.context} --controller ADDR, or choose another with hodei context use NAME)`;
    }
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
