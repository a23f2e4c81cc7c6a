import { Command, Flags } from "@oclif/core";
import { compileAgentOptions, ConfigError, startAgent, type CompiledAgentOptions } from "../../agent/index.js";
import { defaultLogger } from "../../agent/config.js";
import { parseKillMethod, parseLabels } from "../../agent/parse.js";
import { CONTROLLER_LISTENING, DIAL_ON_MESSAGE } from "../embedded.js";
import { durationFlag, sizeFlag } from "../flags.js";

/** After its parent died, how long the agent may take to cancel its runs before it simply exits. */
const ORPHAN_EXIT_MS = 15_000;
/** Resolves when the embedded daemon that started this agent says its controller listens. */
function controllerListening(): Promise<void> {
  // The process is held open while waiting: the channel is unreferenced, so as not to keep the agent alive.
  const hold = setInterval(() => {}, 1 << 30);
  return new Promise<void>((resolve, reject) => {
    const onMessage = (m: unknown): void => {
      if (m !== CONTROLLER_LISTENING) return;
      done();
      resolve();
    };
    const onGone = (): void => {
      done();
      reject(new Error("the embedded controller exited before it listened"));
    };
    const done = (): void => {
      process.off("message", onMessage);
      process.off("disconnect", onGone);
      clearInterval(hold);
    };
    process.on("message", onMessage);
    process.once("disconnect", onGone);
  });
}

const LOG_LEVELS = ["fatal", "error", "warn", "info", "debug", "trace", "silent"] as const;

export default class AgentCommand extends Command {
  static override summary = "Run an agent: dial a controller, execute the runs it assigns, stream their logs.";

  static override description = `The agent connects out to the controller (it never listens), registers its name, labels and slots, and runs each assigned job in its own workspace and process group. Logs go to stderr.

The first time, it joins with a join token (--token-file or --token; an operator makes one with \`hodei agents token create\`) and receives its own credential, which it keeps in --work-dir (mode 0600) and presents from then on, across reconnects and restarts: keep the work dir. See docs/security.md, "Agents".

Any of --ca, --cert and --key makes it dial over TLS (without --ca the system's trusted CAs check the controller); --cert and --key present a client certificate, which a controller started with --tls-client-ca requires of agents. They do not apply to a unix: address. See docs/security.md, "TLS".

On SIGTERM or SIGINT it takes no new work, lets running jobs finish within --drain-timeout (then cancels them), waits for the controller to store their logs, and exits 0. A second signal cancels running jobs at once; a third exits immediately. Started with a Node IPC channel (as the embedded controller starts its agent), it stops the same way, cancelling running jobs at once, when that channel closes: when its parent exits or is killed.`;

  static override examples = [
    "<%= config.bin %> agent --controller ci.example.com:7070 --token-file /etc/hodei/join.token --labels os=linux,arch=amd64 --slots 4",
    "sudo <%= config.bin %> agent --controller ci.example.com:7070 --token-file /etc/hodei/join.token --run-as hodei-job",
    "HODEI_CONTROLLER=127.0.0.1:7070 <%= config.bin %> agent --drain-timeout 30m",
    "<%= config.bin %> agent --controller ci.example.com:7070 --ca hodei-certs/ca.crt --cert hodei-certs/agent-1.crt --key hodei-certs/agent-1.key",
  ];

  static override flags = {
    controller: Flags.string({ summary: "Controller address, HOST:PORT.", env: "HODEI_CONTROLLER", required: true }),
    ca: Flags.string({ summary: "PEM CA certificate that signed the controller's certificate; dial over TLS.", env: "HODEI_CA", helpValue: "FILE" }),
    cert: Flags.string({ summary: "PEM client certificate for a controller that requires them (mutual TLS); needs --key.", env: "HODEI_CERT", helpValue: "FILE" }),
    key: Flags.string({ summary: "PEM private key of --cert (keep it mode 0600).", env: "HODEI_KEY", helpValue: "FILE" }),
    token: Flags.string({
      summary: "Join token (from `hodei agents token create`, or the controller's HODEI_AGENT_JOIN_TOKEN), presented until the agent has its own credential. Prefer --token-file: a job of the same user can read the agent's environment.",
      env: "HODEI_AGENT_TOKEN",
      helpValue: "TOKEN",
    }),
    "token-file": Flags.string({ summary: "A file (keep it 0600) holding the join token; wins over --token.", env: "HODEI_AGENT_TOKEN_FILE", helpValue: "FILE" }),
    "run-as": Flags.string({
      summary: "Run jobs as this unprivileged user (name or uid); the agent must run as root. Jobs then cannot read the agent's files (its credential) or its process.",
      env: "HODEI_RUN_AS",
      helpValue: "USER",
    }),
    name: Flags.string({ summary: "Agent name (default: the host name).", env: "HODEI_AGENT_NAME" }),
    labels: Flags.string({ summary: "Labels for job selectors, k=v,k2=v2.", env: "HODEI_AGENT_LABELS" }),
    slots: Flags.integer({ summary: "Runs executed at once (default: number of CPUs).", env: "HODEI_AGENT_SLOTS", min: 1 }),
    "work-dir": Flags.string({ summary: "Directory for run workspaces (default: a per-user temp dir).", env: "HODEI_WORK_DIR" }),
    "drain-timeout": durationFlag({ summary: "On shutdown, how long running jobs may go on before they are cancelled, e.g. 30m; 0 = no limit. Default: 10m.", env: "HODEI_DRAIN_TIMEOUT" }),
    "max-unacked-logs": sizeFlag({ summary: "Unacknowledged log bytes kept in memory, e.g. 64Mi; beyond it they are spooled to disk. Default: 32Mi.", env: "HODEI_MAX_UNACKED_LOGS" }),
    "max-spool": sizeFlag({ summary: "Cap on the disk log spool of all runs, e.g. 20Gi; beyond it job output is paused. 0 = no spool. Default: 10Gi.", env: "HODEI_MAX_SPOOL" }),
    "kill-method": Flags.string({ summary: "How a job's process tree is stopped: auto, cgroup, cgroup-v2, cgroup-v1, process-group.", env: "HODEI_KILL_METHOD", default: "auto" }),
    "keep-workspaces": Flags.boolean({ summary: "Keep each run's workspace after it ends.", env: "HODEI_KEEP_WORKSPACES", default: false }),
    "allow-in-place": Flags.boolean({
      summary: "Run jobs in place (hodei run --in-place): a run may name any directory on this machine as its workspace, and the job writes there. Only for the embedded daemon's own agent, which sets it; without it such runs fail before they start.",
      default: false,
    }),
    "log-level": Flags.option({ summary: "Agent log level (stderr).", options: LOG_LEVELS, env: "HODEI_LOG_LEVEL", default: "info" as const })(),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(AgentCommand);
    let options: CompiledAgentOptions;
    try {
      options = compileAgentOptions({
        controller: flags.controller,
        tls: { caFile: flags.ca, certFile: flags.cert, keyFile: flags.key },
        joinToken: flags.token,
        joinTokenFile: flags["token-file"],
        runAs: flags["run-as"],
        name: flags.name,
        labels: flags.labels ? parseLabels("labels", flags.labels) : undefined,
        slots: flags.slots,
        workDir: flags["work-dir"],
        drainTimeoutMs: flags["drain-timeout"],
        maxUnackedLogBytes: flags["max-unacked-logs"],
        maxSpoolBytes: flags["max-spool"],
        killMethod: parseKillMethod("kill-method", flags["kill-method"]),
        keepWorkspaces: flags["keep-workspaces"],
        allowInPlace: flags["allow-in-place"],
        logger: defaultLogger(flags["log-level"]),
        dialAfter: process.channel && process.env[DIAL_ON_MESSAGE] === "1" ? controllerListening() : undefined,
      });
    } catch (err) {
      if (err instanceof ConfigError) this.error(err.message, { exit: 2 });
      throw err;
    }

    // Handlers go in before the agent starts: a signal during start-up is acted on once it is up.
    let agent: Awaited<ReturnType<typeof startAgent>> | undefined;
    let signals = 0;
    let pending: NodeJS.Signals | undefined;
    const act = (signal: NodeJS.Signals): void => {
      if (!agent) {
        pending = signal;
        return;
      }
      if (signals === 1) void agent.drain(`received ${signal}`);
      else if (signals === 2) void agent.stop(`received ${signal} again`);
      else process.exit(signal === "SIGINT" ? 130 : 143); // the operator insists: leave now
    };
    const onSignal = (signal: NodeJS.Signals): void => {
      signals++;
      act(signal);
    };
    process.on("SIGTERM", onSignal);
    process.on("SIGINT", onSignal);
    // Started with an IPC channel (as the embedded daemon starts its agent), the agent lives only as
    // long as its parent: the channel closes when the parent dies, even by SIGKILL, and the agent stops
    // at once, cancelling its runs (their logs and results have nowhere to go). The channel does not
    // keep the agent alive by itself.
    let orphaned = false;
    const onParentGone = (): void => {
      orphaned = true;
      if (agent) void agent.stop("its parent process exited");
      // Bounded: a stop that waits for a controller that died with the parent must not keep us.
      setTimeout(() => process.exit(1), ORPHAN_EXIT_MS).unref();
    };
    if (process.channel) {
      process.channel.unref();
      process.once("disconnect", onParentGone);
    }
    try {
      agent = await startAgent(options);
    } catch (err) {
      process.off("SIGTERM", onSignal);
      process.off("SIGINT", onSignal);
      // e.g. --kill-method cgroup on a machine with no usable cgroup
      if (err instanceof ConfigError) this.error(err.message, { exit: 2 });
      throw err;
    }
    if (orphaned) void agent.stop("its parent process exited");
    else if (pending) act(pending);
    await agent.closed;
    process.off("SIGTERM", onSignal);
    process.off("SIGINT", onSignal);
    process.off("disconnect", onParentGone);
    // Everything is closed; if a stray handle still holds the event loop, do not hang on it.
    setTimeout(() => process.exit(0), 2_000).unref();
  }
}
