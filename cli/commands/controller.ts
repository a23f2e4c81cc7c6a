import { Flags } from "@oclif/core";
import { HodeiCommand } from "../base.js";
import { startController } from "../../controller/server.js";
import { ConfigError, DEFAULT_HANDSHAKE_TIMEOUT_MS, DEFAULT_MAX_AGENT_SLOTS } from "../../controller/config.js";
import { CliError, UsageError } from "../errors.js";
import { durationFlag, sizeFlag } from "../flags.js";
import { parseControllerConfig } from "../../schemas/controller-config.js";
import { resolveConfigRepos } from "../../controller/gitops/config-repos.js";
import { readFile } from "node:fs/promises";

/** The repositories of a --config file; every problem with it is a usage error (exit 2). */
async function readConfigRepos(file: string): Promise<Awaited<ReturnType<typeof resolveConfigRepos>>> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (err) {
    throw new ConfigError(`cannot read the config file ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  const { config, errors } = parseControllerConfig(text, file);
  if (!config) throw new ConfigError(`invalid config file:\n${errors.join("\n")}`);
  return resolveConfigRepos(config.repos ?? [], file);
}

export default class ControllerCommand extends HodeiCommand {
  static override summary = "Run a controller: the gRPC API for agents and the CLI, over PostgreSQL or an embedded PGlite.";
  static override examples = [
    "<%= config.bin %> controller --database-url postgres://postgres@127.0.0.1:5432/hodei --listen 0.0.0.0:7070",
    "<%= config.bin %> controller --data-dir ./hodei-data",
    "<%= config.bin %> controller --database-url postgres://postgres@db:5432/hodei --listen 0.0.0.0:7070 --tls-cert hodei-certs/server.crt --tls-key hodei-certs/server.key --tls-client-ca hodei-certs/ca.crt",
  ];
  static override description = `Plaintext is served only on loopback addresses (127.0.0.1, ::1, localhost): to listen where other machines can reach it, give --tls-cert and --tls-key (\`hodei certs init\` makes them), or --insecure to accept plaintext. With --tls-client-ca, agents must also present a client certificate signed by that CA (mutual TLS); the CLI needs only --ca. The HTTP listener (--http) serves HTTPS with the same certificate. See docs/security.md, "TLS".`;
  static override enableJsonFlag = false;
  static override flags = {
    "database-url": Flags.string({ description: "PostgreSQL URL", env: "DATABASE_URL", exclusive: ["data-dir"] }),
    "data-dir": Flags.string({ description: "embedded PGlite data directory", env: "HODEI_CONTROLLER_DATA_DIR" }),
    listen: Flags.string({ description: "HOST:PORT for gRPC", default: "127.0.0.1:7070", env: "HODEI_LISTEN" }),
    "heartbeat-interval": durationFlag({ description: "agent heartbeat interval, 100ms to 10m (default: 5s)" }),
    "agent-lost-after": Flags.integer({ description: "silent heartbeat intervals before an agent is lost and its runs fail", default: 3 }),
    "unschedulable-after": durationFlag({ description: "how long a queued run may wait with no agent able to take it before it fails (default: 5m)" }),
    "start-deadline": durationFlag({ description: "an assignment its agent has not started after this long is taken back and placed again (default: 2m)" }),
    http: Flags.string({ description: "HOST:PORT for /healthz and /readyz", env: "HODEI_HTTP" }),
    "max-agent-slots": Flags.integer({ description: "the most slots an agent gets, whatever it declares", default: DEFAULT_MAX_AGENT_SLOTS }),
    "admin-token-file": Flags.string({
      description: "a file holding the first admin token (hodei_ and 32+ letters or digits); when it does not exist and no admin token does, a new one is written there (0600). HODEI_ADMIN_TOKEN gives the token itself. See docs/security.md",
      env: "HODEI_ADMIN_TOKEN_FILE",
    }),
    config: Flags.string({ description: "a YAML file (kind: ControllerConfig) declaring the repositories this controller syncs; see docs/gitops.md", env: "HODEI_CONFIG" }),
    "submit-rate": Flags.integer({ description: "runs a second one API token may start by hand (SubmitRun, rerun, RunJob), in bursts of twice that; 0: no limit (default: 200)", env: "HODEI_SUBMIT_RATE", min: 0 }),
    "max-queued-per-project": Flags.integer({ description: "queued runs one project may have before submits are refused; 0: no limit (default: 10000)", env: "HODEI_MAX_QUEUED_PER_PROJECT", min: 0 }),
    "master-key-file": Flags.string({
      description: "file holding the master key that seals secrets (base64, one key per line, the current first; mode 0600). Or set HODEI_MASTER_KEY (and HODEI_MASTER_KEY_PREVIOUS while rotating)",
      env: "HODEI_MASTER_KEY_FILE",
    }),
    "mirrors-dir": Flags.string({ description: "where repository mirrors are kept (default: DATA_DIR/mirrors, or ~/.cache/hodei/mirrors with --database-url)", env: "HODEI_MIRRORS_DIR" }),
    "max-stdin": sizeFlag({ description: "the most stdin one run may be sent with hodei run -i, e.g. 64Mi (default: 64Mi)" }),
    "max-log-size": sizeFlag({
      description: "the most log one attempt of a run may store, e.g. 200Mi; beyond it the log ends with a marker saying so and later output is dropped. 0: no limit (default: 1Gi)",
      env: "HODEI_MAX_LOG_SIZE",
    }),
    "github-api-url": Flags.string({ description: "GitHub's REST API, where commit statuses of runs from GitHub repos go; for GitHub Enterprise https://HOST/api/v3", default: "https://api.github.com", env: "HODEI_GITHUB_API_URL" }),
    "schedule-catch-up": durationFlag({
      description: "a schedule tick missed while no controller was up fires once if it is younger than this; 0: never catch up (default: 1h)",
    }),
    "tls-cert": Flags.string({ description: "PEM certificate (chain) to serve gRPC and HTTP over TLS; needs --tls-key", env: "HODEI_TLS_CERT", helpValue: "FILE" }),
    "tls-key": Flags.string({ description: "PEM private key of --tls-cert (keep it mode 0600)", env: "HODEI_TLS_KEY", helpValue: "FILE" }),
    "tls-client-ca": Flags.string({ description: "PEM CA certificate: agents must present a client certificate it signed (mutual TLS); the CLI needs none", env: "HODEI_TLS_CLIENT_CA", helpValue: "FILE" }),
    insecure: Flags.boolean({ description: "serve plaintext on a non-loopback --listen or --http address (refused without it): anyone on the network can read and forge the traffic", env: "HODEI_INSECURE", default: false }),
    "handshake-timeout": Flags.integer({ description: "milliseconds a new connection may take to complete its HTTP/2 preface before it is closed", default: DEFAULT_HANDSHAKE_TIMEOUT_MS }),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(ControllerCommand);
    // Signal handlers go in before anything is announced: a supervisor that sends SIGTERM
    // as soon as it reads "listening" must not find the default action (found under load).
    let requestStop = (): void => {};
    const stopRequested = new Promise<void>((resolve) => (requestStop = resolve));
    const onSignal = (): void => {
      process.off("SIGTERM", onSignal);
      process.off("SIGINT", onSignal);
      requestStop();
    };
    process.on("SIGTERM", onSignal);
    process.on("SIGINT", onSignal);
    let controller;
    try {
      const repos = flags.config ? await readConfigRepos(flags.config) : undefined;
      controller = await startController({
        repos,
        databaseUrl: flags["database-url"],
        dataDir: flags["data-dir"],
        listen: flags.listen,
        heartbeatIntervalMs: flags["heartbeat-interval"],
        agentLostAfter: flags["agent-lost-after"],
        http: flags.http,
        unschedulableAfterMs: flags["unschedulable-after"],
        startDeadlineMs: flags["start-deadline"],
        maxAgentSlots: flags["max-agent-slots"],
        handshakeTimeoutMs: flags["handshake-timeout"],
        maxStdinBytes: flags["max-stdin"],
        maxLogBytes: flags["max-log-size"],
        submitRatePerSec: flags["submit-rate"],
        maxQueuedPerProject: flags["max-queued-per-project"],
        mirrorsDir: flags["mirrors-dir"],
        masterKey: { env: process.env.HODEI_MASTER_KEY || undefined, previousEnv: process.env.HODEI_MASTER_KEY_PREVIOUS, file: flags["master-key-file"] },
        adminTokenFile: flags["admin-token-file"],
        githubApiUrl: flags["github-api-url"],
        scheduleCatchUpMs: flags["schedule-catch-up"],
        tls: { certFile: flags["tls-cert"], keyFile: flags["tls-key"], clientCaFile: flags["tls-client-ca"] },
        insecure: flags.insecure,
      });
    } catch (err) {
      onSignal();
      if (err instanceof ConfigError) throw new UsageError(err.message, { cause: err });
      throw new CliError((err as Error).message, { cause: err });
    }
    if (controller.httpAddress) process.stderr.write(`http listening on ${controller.httpAddress}\n`);
    const tls = controller.tls === "off" ? "" : controller.tls === "on" ? " (TLS)" : " (TLS; agents must present client certificates)";
    process.stderr.write(`hodei controller listening on ${controller.address}${tls}\n`);
    await stopRequested;
    await controller.stop();
  }
}
