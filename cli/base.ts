/**
 * What every command shares: --json, --controller, and the way errors become
 * a short message on stderr and an exit code.
 */
import { Command, Flags } from "@oclif/core";
import { ControlClient } from "./client.js";
import { CliError } from "./errors.js";
import { defaultDataDir, openEmbedded } from "./embedded.js";

export abstract class HodeiCommand extends Command {
  static override enableJsonFlag = true;

  static override baseFlags = {
    controller: Flags.string({
      description: "controller address HOST:PORT; without it an embedded controller is used",
      env: "HODEI_CONTROLLER",
      helpGroup: "GLOBAL",
    }),
  };

  private cleanups: (() => Promise<void>)[] = [];

  /** A client for the configured controller, or for the embedded one. */
  protected async connect(controller: string | undefined, opts: { withAgent?: boolean } = {}): Promise<ControlClient> {
    let address = controller;
    if (!address) {
      const embedded = await openEmbedded({ dataDir: defaultDataDir(), withAgent: opts.withAgent ?? false });
      this.cleanups.push(() => embedded.close());
      address = embedded.address;
    }
    const client = new ControlClient(address);
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

  protected override async catch(err: Error & { exitCode?: number; oclif?: { exit?: number } }): Promise<void> {
    // oclif's own exits and parse errors keep their behaviour.
    if (!(err instanceof CliError)) return super.catch(err);
    process.exitCode = err.exitCode;
    if (this.jsonEnabled()) {
      this.logJson({ error: { name: err.name, message: err.message, exitCode: err.exitCode } });
    } else {
      process.stderr.write(`Error: ${err.message}\n`);
    }
  }
}
