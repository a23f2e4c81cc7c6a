import { X509Certificate } from "node:crypto";
import { readFileSync } from "node:fs";
import { HodeiCommand, resolveTarget, type Target } from "../base.js";
import type { ControlClient } from "../client.js";
import { configFile, readContexts } from "../contexts.js";
import { CliError, ControllerError, ControllerUnreachableError, EXIT, exitCodeFor } from "../errors.js";
import { ago, printable, useColor } from "../format.js";
import { withSpinner } from "../progress.js";

type Status = "ok" | "warn" | "fail" | "skip";

interface Check {
  name: "config" | "controller" | "tls" | "token" | "database" | "agents";
  status: Status;
  detail: string;
  /** What to do about a warning or a failure. */
  fix: string | null;
}

const LOOPBACK = /^(127\.\d+\.\d+\.\d+|localhost|\[::1\]|::1)(:\d+)?$/;

const FROM: Record<Target["from"], string> = {
  flag: "--controller",
  env: "HODEI_CONTROLLER",
  context: "the current context",
  embedded: "no controller configured: the embedded one",
};

export default class Doctor extends HodeiCommand {
  static override summary = "Check the configured controller, token, TLS and database, and say what to fix.";
  static override description =
    "Checks, in order: the config file (contexts), which controller is used and why (--controller, HODEI_CONTROLLER, the current context, or the embedded one), that it answers, TLS (a CA that parses and is in date; plaintext only to a loopback address), " +
    "that the token is accepted (its name, role and expiry), that the controller's database answers, and how many agents are connected. " +
    "Each line says ok, warn or fail, and for a warning or a failure what to do. Exits 0 when nothing failed (warnings allowed), else with the code of the first failure (docs/cli-conventions.md: 3 unreachable, 5 token refused, ...).";
  static override examples = ["<%= config.bin %> doctor", "<%= config.bin %> doctor --controller hodei.example.com --ca ca.crt", "HODEI_TOKEN_FILE=./ci.token <%= config.bin %> doctor --json"];

  async run(): Promise<Record<string, unknown>> {
    const { flags } = await this.parse(Doctor);
    const json = this.jsonEnabled();
    const checks: Check[] = [];
    let firstFailure: number | undefined;
    const add = (c: Check, err?: unknown): void => {
      checks.push(c);
      if (c.status === "fail" && firstFailure === undefined) firstFailure = err === undefined ? EXIT.failure : exitCodeFor(err);
    };
    const skip = (name: Check["name"], why: string): void => add({ name, status: "skip", detail: why, fix: null });

    // 1. The config file.
    let target: Target | undefined;
    try {
      const file = configFile();
      const data = readContexts(file);
      const n = Object.keys(data.contexts).length;
      add({ name: "config", status: "ok", detail: n ? `${file}: ${n} context${n === 1 ? "" : "s"}${data.current ? `, current ${data.current}` : ", none current"}` : `${file}: no contexts`, fix: null });
      target = resolveTarget({ controller: flags.controller, ca: flags.ca }, this.argv);
    } catch (err) {
      add({ name: "config", status: "fail", detail: (err as Error).message, fix: `fix or remove ${configFile()}` }, err);
    }

    // 2. The controller answers.
    let client: ControlClient | undefined;
    const where = target ? (target.address ? `${target.address} (from ${target.from === "context" ? `context ${target.context}` : FROM[target.from]})` : FROM.embedded) : "";
    if (target) {
      try {
        client = await this.connect(flags.controller);
        await withSpinner(`connecting to ${client.address}`, client.connected(5000), { enabled: !json });
        add({ name: "controller", status: "ok", detail: `${where} answers`, fix: null });
      } catch (err) {
        client = undefined;
        add(
          {
            name: "controller",
            status: "fail",
            detail: err instanceof ControllerUnreachableError ? `${where}: ${err.message.split("\n")[0]}` : `${where}: ${(err as Error).message}`,
            fix: err instanceof ControllerUnreachableError ? (err.message.split("\n")[1] ?? "start the controller or fix its address") : "fix the flag, variable or file named",
          },
          err,
        );
      }
    } else skip("controller", "no configuration to read");

    // 3. TLS.
    if (target?.address && !target.address.startsWith("unix:")) {
      if (target.ca) {
        try {
          const cert = new X509Certificate(readFileSync(target.ca));
          const until = Date.parse(cert.validTo);
          if (until < Date.now()) add({ name: "tls", status: "fail", detail: `the CA ${target.ca} expired ${ago(until)}`, fix: "make a new CA and certificates: hodei certs init" });
          else if (!client) add({ name: "tls", status: "skip", detail: `the CA in ${target.ca} is a certificate valid until ${cert.validTo}; whether the controller's certificate is signed by it: see controller above`, fix: null });
          else add({ name: "tls", status: "ok", detail: `TLS, trusting the CA in ${target.ca} (from ${target.caFrom === "context" ? "the context" : target.caFrom === "flag" ? "--ca" : "HODEI_CA"}), valid until ${cert.validTo}`, fix: null });
        } catch (err) {
          add({ name: "tls", status: "fail", detail: `cannot use the CA ${target.ca}: ${(err as Error).message}`, fix: "give --ca (or HODEI_CA) the PEM CA certificate that signed the controller's (hodei certs init writes ca.crt)" }, new CliError(""));
        }
      } else if (LOOPBACK.test(target.address)) {
        add({ name: "tls", status: "ok", detail: "plaintext, to a loopback address", fix: null });
      } else {
        add({ name: "tls", status: "warn", detail: `plaintext to ${target.address}: tokens and logs cross the network unencrypted`, fix: "serve TLS (hodei controller --tls-cert/--tls-key) and give --ca, HODEI_CA or hodei context add --ca" });
      }
    } else skip("tls", target?.address ? "a unix socket" : "the embedded controller listens on a unix socket in your data dir");

    // 4. The token, 5. the database, 6. agents: each needs the one before.
    if (client) {
      let tokenOk = false;
      try {
        const me = await client.whoAmI();
        tokenOk = true;
        const expires = me.expiresAtMs ? `, expires ${ago(me.expiresAtMs)}` : "";
        const source = target!.tokenFrom === "context" ? `the context's token file ${target!.tokenFile}` : target!.tokenFrom === "none" ? "the embedded controller's own" : target!.tokenFrom;
        const soon = me.expiresAtMs && me.expiresAtMs - Date.now() < 7 * 86_400_000;
        add({ name: "token", status: soon ? "warn" : "ok", detail: `token ${printable(me.name)} (${me.role}${me.projects.length ? `, projects ${me.projects.join(", ")}` : ""}${expires}), from ${source}`, fix: soon ? "make a new one before it expires: hodei tokens create" : null });
      } catch (err) {
        const refused = err instanceof ControllerError && err.kind === "permission";
        const none = target!.tokenFrom === "none" && target!.from !== "embedded";
        add(
          {
            name: "token",
            status: "fail",
            detail: refused ? (none ? `no token was sent: ${err.message}` : `the token (from ${target!.tokenFrom === "context" ? `context ${target!.context}'s file` : target!.tokenFrom}) was refused: ${err.message}`) : (err as Error).message,
            fix: refused ? "set HODEI_TOKEN or HODEI_TOKEN_FILE, or save a token file in the context (hodei context add NAME --controller ADDR --token-file FILE); an admin makes tokens with hodei tokens create" : null,
          },
          err,
        );
      }
      if (tokenOk) {
        try {
          await client.listRuns({ limit: 1 });
          add({ name: "database", status: "ok", detail: "the controller's database answers", fix: null });
        } catch (err) {
          const down = err instanceof ControllerError && err.kind === "unavailable";
          add({ name: "database", status: "fail", detail: (err as Error).message, fix: down ? "the controller cannot reach its database: check PostgreSQL (its /readyz says 503 meanwhile) and the controller's log" : null }, err);
        }
        try {
          const { agents } = await client.listAgents();
          const up = agents.filter((a) => a.state === "connected");
          add(
            up.length
              ? { name: "agents", status: "ok", detail: `${up.length} connected (${up.reduce((n, a) => n + a.slots, 0)} slots): ${up.map((a) => printable(a.name)).join(", ")}`, fix: null }
              : { name: "agents", status: "warn", detail: "no agent is connected: runs will wait in the queue", fix: "start one: hodei agent --controller ADDR (docs/agent.md)" },
          );
        } catch (err) {
          add({ name: "agents", status: "warn", detail: (err as Error).message, fix: null });
        }
      } else {
        skip("database", "needs an accepted token");
        skip("agents", "needs an accepted token");
      }
    } else {
      for (const name of ["token", "database", "agents"] as const) skip(name, "needs a controller that answers");
    }

    const ok = !checks.some((c) => c.status === "fail");
    if (!json) this.print(checks, ok);
    if (!ok) process.exitCode = firstFailure ?? EXIT.failure;
    return { ok, controller: target ? { address: target.address ?? null, from: target.from, context: target.context ?? null } : null, checks };
  }

  private print(checks: Check[], ok: boolean): void {
    const color = useColor();
    const mark: Record<Status, [string, string]> = { ok: ["✔", "32"], warn: ["!", "33"], fail: ["✘", "31"], skip: ["-", "90"] };
    for (const c of checks) {
      const [m, sgr] = mark[c.status];
      process.stdout.write(`${color ? `\x1b[${sgr}m${m}\x1b[0m` : m} ${c.name.padEnd(10)} ${c.detail}\n`);
      if (c.fix) process.stdout.write(`  ${" ".repeat(10)} fix: ${c.fix}\n`);
    }
    process.stdout.write(ok ? "no problems found\n" : "problems found: see fix: above\n");
  }
}
