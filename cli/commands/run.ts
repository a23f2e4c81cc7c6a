import { Args, Flags } from "@oclif/core";
import { randomUUID } from "node:crypto";
import { join } from "node:path";
import { HodeiCommand } from "../base.js";
import type { ControlClient } from "../client.js";
import { formatSpecWarning } from "../../schemas/load.js";
import { parseEnvFlags, resolveJob, withEnv, type ResolvedJob } from "../resolve-job.js";
import { CliError, EXIT, UsageError } from "../errors.js";
import { sendStdin } from "../stdin.js";
import { isOutputClosed, outputClosed, writeChunk } from "../output.js";
import { makeSourceBundle, workingTreeRoot } from "../source-bundle.js";
import { attemptOutcome, outcome, printable, runJson } from "../format.js";
import { withSpinner } from "../progress.js";
import { RunStatus } from "../run-status.js";
import type { SpecError } from "../../schemas/load.js";
import type { Attempt, LogEntry, Run } from "../../proto/gen/hodei/v1/control.js";
import { constants } from "node:os";

/** The exit code `hodei run` ends with, like `docker run`: the job's own where it has one. */
export function exitCodeOf(r: Run): number {
  if (r.state === "succeeded") return 0;
  if (r.state === "timed_out") return EXIT.timedOut;
  if (r.state === "cancelled") return EXIT.cancelled;
  if (r.reason === "exited" && r.exitCode !== undefined) return r.exitCode;
  if (r.reason === "signaled") return 128 + signalNumber(r.signal);
  return 1;
}

/** The signals that cancel the run `hodei run` started (a second one detaches). */
const STOP_SIGNALS: readonly NodeJS.Signals[] = ["SIGINT", "SIGTERM", "SIGHUP"];
const ENDED: readonly string[] = ["succeeded", "failed", "cancelled", "timed_out"];
const signalNumber = (sig: string): number => (constants.signals as Record<string, number>)[sig] ?? 0;

export default class RunCommand extends HodeiCommand {
  static override summary = "Run a job and follow its log; exit with the job's exit code.";
  static override description =
    "Submits the job in FILE (or `-` for stdin, or a job's name, looked up under the .hodei/ of the repository you are in), prints its log live (the job's stdout to stdout, its stderr to stderr, byte for byte) and exits with its exit code. " +
    "With no controller configured it starts an embedded one (PGlite under HODEI_DATA_DIR) and a local agent. " +
    "Fields that are accepted but not acted on yet (concurrency, resources, ...) are warned about on stderr; in a pipe or CI the run id is printed to stderr once (hodei: run ID). " +
    "On a terminal, stderr shows a live status line while the run waits (queued and its place in the queue, assigned to AGENT, running, the time so far), which stays as the header above the job's output, and one result line at the end (outcome, duration, attempt); never with --json, and never on stdout. " +
    "Ctrl-C (SIGINT), SIGTERM or SIGHUP cancels the run and waits for it to stop, then exits 128+signal (130, 143, 129); a second signal stops waiting (detaches) without doing anything more. " +
    "With --in-place (embedded controller only) the job runs in the working tree itself, not a copy: the repository's root around FILE (or FILE's directory outside a repository) is its workspace and HODEI_WORKSPACE, ignored files included, and what the job writes stays there (as docker run -v $PWD:$PWD -w $PWD); nothing removes it. " +
    "With -i (--interactive) hodei's stdin is passed to the job byte for byte until EOF (as docker run -i), resent after a controller restart; a job that ends without reading it all is not an error; stdin beyond the controller's limit cancels the run; without -i the job's stdin is closed (it reads EOF at once). " +
    "If stdout or stderr is closed by its reader (`hodei run job.yaml | head -1`), hodei stops following and exits at once, printing nothing more: " +
    "with the job's exit code if the run has ended, otherwise with 141 (as a process killed by SIGPIPE), and the run goes on (as with docker run); find it with `hodei runs ls`.";
  static override examples = [
    "<%= config.bin %> run examples/hello/.hodei/jobs/hello.yaml",
    "<%= config.bin %> run unit-tests -e CI=true",
    "<%= config.bin %> run .hodei/build.yaml --in-place",
    "<%= config.bin %> run - < job.yaml",
    "<%= config.bin %> run unit-tests --repo web --ref feature/login",
    "printf 'a\\nb\\n' | <%= config.bin %> run count-lines.yaml -i",
    "<%= config.bin %> run jobs.yaml --job build --controller 10.0.0.5:7070 --detach"];
  static override args = {
    file: Args.string({ description: "a YAML file with one or more Job documents, `-` to read it from stdin, or the name of a job under the repository's .hodei/", required: true }),
  };
  static override flags = {
    env: Flags.string({ char: "e", multiple: true, description: "add KEY=VALUE to the job's environment (over its env:); -e KEY takes the value from this environment" }),
    job: Flags.string({ description: "the job to run when FILE has several" }),
    detach: Flags.boolean({ char: "d", description: "print the run id and exit without following" }),
    "no-source": Flags.boolean({ description: "start the job in an empty workspace instead of a copy of the working tree around FILE" }),
    "in-place": Flags.boolean({
      description:
        "run the job in the working tree around FILE itself, not a copy (embedded controller only): its workspace is the repository's root (FILE's directory outside a repository), and what it writes lands in your files",
    }),
    project: Flags.string({ description: "the project the run belongs to (default: \"default\", or the only project of a project-scoped token); a --repo run belongs to its repository's project", exclusive: ["repo"] }),
    repo: Flags.string({ description: "run the job named JOB from this registered repository (hodei repos ls), at --ref's head commit; nothing is uploaded" }),
    ref: Flags.string({ description: "with --repo: a branch, tag or commit (default: the repository's tracked branch)", dependsOn: ["repo"] }),
    interactive: Flags.boolean({
      char: "i",
      description: "pass this terminal's stdin to the job (as docker run -i), up to the controller's limit (64 MiB by default); without it the job's stdin is closed",
    }),
  };

  async run(): Promise<Record<string, unknown> | undefined> {
    const { args, flags } = await this.parse(RunCommand);
    if (flags.interactive && args.file === "-") throw new UsageError("`hodei run - -i` would read both the job and its input from stdin; give the job as a file (hodei run job.yaml -i)");
    if (flags.interactive && flags.detach) throw new UsageError("-i (--interactive) needs hodei run to stay and pass stdin to the job; it cannot be used with --detach");
    if (flags["in-place"]) checkInPlace(args.file, flags);
    const json = this.jsonEnabled();
    const tty = Boolean(process.stderr.isTTY) && !json;
    let warnings: SpecError[] = [];
    let submit: (client: ControlClient) => Promise<Run>;
    let connecting: Promise<ControlClient> | undefined;
    // The controller is reached (the embedded one found or started) while the working tree is
    // packed; only after the job has been read: a bad file starts nothing.
    const connect = (): Promise<ControlClient> => {
      connecting ??= this.connect(flags.controller, { withAgent: true });
      connecting.catch(() => {}); // awaited below
      return connecting;
    };
    let packing: Promise<Buffer> = Promise.resolve(Buffer.alloc(0));
    if (flags.repo) {
      // A repository's job by name, at a commit of that repository: the controller has the definition.
      if (args.file === "-" || /\.ya?ml$/i.test(args.file)) throw new UsageError(`with --repo, give the job's name (hodei jobs ls --repo ${flags.repo}), not a file`);
      if (flags["no-source"]) throw new UsageError("--no-source has no meaning with --repo: the job runs in a checkout of the repository");
      const env = parseEnvFlags(flags.env ?? []);
      const repo = flags.repo;
      submit = (c) => c.runJob({ repo, job: args.file, ref: flags.ref ?? "", env, idempotencyKey: randomUUID(), stdin: flags.interactive });
    } else {
      const resolved = await resolveTarget(args.file, flags);
      warnings = resolved.warnings;
      if (!json) for (const w of warnings) process.stderr.write(`hodei: ${formatSpecWarning(w)}\n`);
      // The working tree around the job's file (around this folder for a spec read from stdin).
      const source = resolved.source;
      void connect();
      // --in-place: nothing is packed; the controller is told the directory itself.
      const inPlace = flags["in-place"] ? workingTreeRoot(source) : Promise.resolve("");
      if (!flags["no-source"] && !flags["in-place"]) packing = makeSourceBundle(source === "<stdin>" ? join(process.cwd(), "-") : source).then((b) => b.data);
      packing.catch(() => {}); // awaited below, beside connect
      inPlace.catch(() => {}); // awaited in submit
      submit = async (c) =>
        c.submitRun({ jobJson: JSON.stringify(resolved.job), source, idempotencyKey: randomUUID(), sourceBundle: await packing, stdin: flags.interactive, inPlaceDir: await inPlace, project: flags.project ?? "" });
    }
    // Each shows a spinner on a terminal when it takes over a second (a big working tree, a repository to fetch).
    const [client] = await withSpinner(flags.repo ? "connecting" : "packing the working tree and connecting", Promise.all([connect(), packing]), { enabled: tty });
    const submitted = await withSpinner(flags.repo ? `fetching ${printable(flags.repo)} and submitting` : "submitting", submit(client), { enabled: tty });
    if (flags["in-place"] && !submitted.inPlaceDir) {
      // A daemon from before --in-place drops the field it does not know and would run the job in an empty workspace.
      await client.cancelRun(submitted.id, "the controller does not know --in-place").catch(() => {});
      throw new CliError(
        `the embedded controller that took run ${submitted.id} is older than --in-place and would not run it in your working tree, so it was cancelled. ` +
          "Stop that controller (hodei embedded stop) and run again: the next command starts the current one",
      );
    }
    if (flags.detach) {
      if (!json) process.stdout.write(`${submitted.id}\n`);
      return withWarnings(runJson(submitted), warnings);
    }
    // In a pipe or CI the id is said once, so the run can be found afterwards.
    if (!tty && !json) process.stderr.write(`hodei: run ${submitted.id}\n`);
    // On a terminal: a live status line while the run waits, the header above its output (cli/run-status.ts).
    let endsLine = true; // whether the job's last output ended its line, so the result line starts on its own
    const status = tty ? new RunStatus(client, submitted) : undefined;
    status?.start();

    let interrupts = 0;
    let signalled: NodeJS.Signals | undefined;
    let detach: (() => void) | undefined;
    const detached = new Promise<"detached">((resolve) => (detach = () => resolve("detached")));
    const say = (text: string): void => {
      if (isOutputClosed()) return;
      status?.freeze();
      process.stderr.write(text);
    };
    const onSignal = (sig: NodeJS.Signals): void => {
      interrupts++;
      if (interrupts === 1) {
        signalled = sig;
        say(`\nCancelling run ${submitted.id} (${sig === "SIGINT" ? "Ctrl-C" : sig} again to stop waiting for it)\n`);
        const by = sig === "SIGINT" ? "Ctrl-C" : sig;
        client.cancelRun(submitted.id, `cancelled from hodei run (${by})`).catch(() => {});
      } else {
        say(`Detached without waiting for the cancel to finish. See it with: hodei runs get ${submitted.id}\n`);
        detach?.();
      }
    };
    for (const sig of STOP_SIGNALS) process.on(sig, onSignal);
    // -i: stdin goes to the run while its log comes back; a refusal (over the limit) ends hodei run.
    const input = flags.interactive ? sendStdin(client, submitted.id, process.stdin) : undefined;
    const inputFailed = new Promise<{ inputError: unknown }>((resolve) => input?.done.catch((inputError: unknown) => resolve({ inputError })));
    let ended: Run | "detached" | "closed" | { inputError: unknown } | undefined;
    try {
      const onAttemptEnd = (a: Attempt): void => {
        if (!json) say(`hodei: attempt ${a.attempt} of run ${submitted.id} ${attemptOutcome(a)}; it will be retried\n`);
      };
      const show = status
        ? async (e: LogEntry): Promise<void> => {
            await status.header();
            if (e.data.length > 0) endsLine = e.data[e.data.length - 1] === 0x0a;
            return writeChunk(e);
          }
        : writeChunk;
      const following = client.followLogs(submitted.id, { follow: true, attempt: submitted.attempt }, json ? () => {} : show, onAttemptEnd);
      following.catch(() => {}); // when we stop following early, its later failure is nobody's business
      ended = await Promise.race([following, detached, outputClosed.then(() => "closed" as const), inputFailed]);
    } finally {
      if (typeof ended !== "object" || !("state" in ended)) status?.stop();
      input?.stop();
      for (const sig of STOP_SIGNALS) process.off(sig, onSignal);
    }
    if (typeof ended === "object" && "inputError" in ended) {
      // The job would wait for input that never comes (or run on a part of it): stop it.
      await client.cancelRun(submitted.id, "its stdin could not be passed on").catch(() => {});
      throw ended.inputError;
    }
    const signalExit = signalled ? 128 + signalNumber(signalled) : undefined;
    if (ended === "closed") {
      // Our reader is gone: print nothing more. The job's code if it has ended; else the run goes on.
      const now = await client.getRun(submitted.id).catch(() => undefined);
      process.exitCode = now && ENDED.includes(now.state) ? exitCodeOf(now) : (signalExit ?? 128 + signalNumber("SIGPIPE"));
      return undefined;
    }
    if (ended === "detached" || !ended) {
      process.exitCode = signalExit ?? EXIT.cancelled;
      return withWarnings(runJson(submitted), warnings);
    }
    if (status) {
      if (!endsLine) process.stderr.write("\n");
      status.result(ended);
    } else if (!json && ended.state !== "succeeded") {
      process.stderr.write(`hodei: run ${ended.id} ${outcome(ended)}\n`);
    }
    // A run we cancelled on a signal exits as the shell expects of a process that signal stopped.
    process.exitCode = ended.state === "cancelled" && signalExit !== undefined ? signalExit : exitCodeOf(ended);
    return withWarnings(runJson(ended), warnings);
  }
}

/**
 * --in-place hands this machine's directory to the job, so it needs the
 * embedded controller (whose agent runs here) and a job file to find it by.
 */
function checkInPlace(file: string, flags: { controller?: string; "no-source"?: boolean; repo?: string }): void {
  if (flags.controller) {
    throw new UsageError("--in-place runs the job in this machine's working tree, so it needs the embedded controller; a remote agent cannot see these files. Leave out --controller (and unset HODEI_CONTROLLER), or run without --in-place to upload the working tree");
  }
  if (flags.repo) throw new UsageError("--in-place has no meaning with --repo: the job runs in a checkout of the registered repository, not in your working tree");
  if (flags["no-source"]) throw new UsageError("--in-place and --no-source contradict each other: one runs the job in your working tree, the other in an empty workspace; choose one");
  if (file === "-") throw new UsageError("`hodei run - --in-place` has no job file to find a working tree by; save the job in a file inside it and run that file with --in-place");
}

/** The job to submit: the target resolved (cli/resolve-job.ts) plus any -e environment. */
async function resolveTarget(target: string, flags: { job?: string; env?: string[] }): Promise<ResolvedJob> {
  const extra = parseEnvFlags(flags.env ?? []);
  const resolved = await resolveJob(target, flags.job);
  return { ...resolved, job: withEnv(resolved.job, extra) };
}

/** --json carries the warnings as data, next to the run. */
const withWarnings = <T extends object>(out: T, warnings: SpecError[]): T | (T & { warnings: SpecError[] }) => (warnings.length > 0 ? { ...out, warnings } : out);
