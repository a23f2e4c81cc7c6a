import { Args, Flags } from "@oclif/core";
import { randomUUID } from "node:crypto";
import { join } from "node:path";
import { HodeiCommand } from "../base.js";
import { formatSpecWarning } from "../../schemas/load.js";
import { parseEnvFlags, resolveJob, withEnv, type ResolvedJob } from "../resolve-job.js";
import { EXIT } from "../errors.js";
import { writeChunk } from "../output.js";
import { makeSourceBundle } from "../source-bundle.js";
import { attemptOutcome, colorState, formatDuration, outcome, printable, runJson } from "../format.js";
import type { SpecError } from "../../schemas/load.js";
import type { Attempt, Run } from "../../proto/gen/hodei/v1/control.js";
import { constants } from "node:os";

/** The exit code `hodei run` ends with, like `docker run`: the job's own where it has one. */
export function exitCodeOf(r: Run): number {
  if (r.state === "succeeded") return 0;
  if (r.state === "timed_out") return EXIT.timedOut;
  if (r.state === "cancelled") return EXIT.cancelled;
  if (r.reason === "exited" && r.exitCode !== undefined) return r.exitCode;
  if (r.reason === "signaled") return 128 + ((constants.signals as Record<string, number>)[r.signal] ?? 0);
  return 1;
}

export default class RunCommand extends HodeiCommand {
  /** The job's exit code is ours; hodei's own failures take 125 so they cannot pass for the job's. */
  protected override readonly otherFailureExit: number = EXIT.hodei;
  static override summary = "Run a job and follow its log; exit with the job's exit code.";
  static override description =
    "Submits the job in FILE (or `-` for stdin, or a job's name, looked up under the .hodei/ of the repository you are in), prints its log live (the job's stdout to stdout, its stderr to stderr, byte for byte) and exits with its exit code. " +
    "With no controller configured it starts an embedded one (PGlite under HODEI_DATA_DIR) and a local agent. " +
    "Fields that are accepted but not acted on yet (concurrency, resources, ...) are warned about on stderr; in a pipe or CI the run id is printed to stderr once (hodei: run ID). " +
    "Ctrl-C cancels the run and waits for it to stop; a second Ctrl-C stops waiting (detaches) without doing anything more.";
  static override examples = [
    "<%= config.bin %> run examples/hello/.hodei/jobs/hello.yaml",
    "<%= config.bin %> run unit-tests -e CI=true",
    "<%= config.bin %> run - < job.yaml",
    "<%= config.bin %> run jobs.yaml --job build --controller 10.0.0.5:7070 --detach"];
  static override args = {
    file: Args.string({ description: "a YAML file with one or more Job documents, `-` to read it from stdin, or the name of a job under the repository's .hodei/", required: true }),
  };
  static override flags = {
    env: Flags.string({ char: "e", multiple: true, description: "add KEY=VALUE to the job's environment (over its env:); -e KEY takes the value from this environment" }),
    job: Flags.string({ description: "the job to run when FILE has several" }),
    detach: Flags.boolean({ char: "d", description: "print the run id and exit without following" }),
    "no-source": Flags.boolean({ description: "start the job in an empty workspace instead of a copy of the working tree around FILE" }),
  };

  async run(): Promise<Record<string, unknown> | undefined> {
    const { args, flags } = await this.parse(RunCommand);
    const { job, source, warnings } = await resolveTarget(args.file, flags);
    const json = this.jsonEnabled();
    const tty = Boolean(process.stderr.isTTY) && !json;
    if (!json) for (const w of warnings) process.stderr.write(`hodei: ${formatSpecWarning(w)}
`);
    // The working tree around the job's file (around this folder for a spec read from stdin).
    const sourceBundle = flags["no-source"] ? Buffer.alloc(0) : (await makeSourceBundle(source === "<stdin>" ? join(process.cwd(), "-") : source)).data;
    const client = await this.connect(flags.controller, { withAgent: true });
    const submitted = await client.submitRun({ jobJson: JSON.stringify(job), source, idempotencyKey: randomUUID(), sourceBundle });
    if (flags.detach) {
      if (!json) process.stdout.write(`${submitted.id}\n`);
      return withWarnings(runJson(submitted), warnings);
    }
    // In a pipe or CI the id is said once, so the run can be found afterwards.
    if (!tty && !json) process.stderr.write(`hodei: run ${submitted.id}\n`);
    if (tty) process.stderr.write(`\x1b[2m▶ run ${submitted.id} · ${printable(job.metadata.name)} · ${colorState(submitted.state, true)}\x1b[0m\n`);

    let interrupts = 0;
    let detach: (() => void) | undefined;
    const detached = new Promise<undefined>((resolve) => (detach = () => resolve(undefined)));
    const onSigint = (): void => {
      interrupts++;
      if (interrupts === 1) {
        process.stderr.write(`\nCancelling run ${submitted.id} (Ctrl-C again to stop waiting for it)\n`);
        client.cancelRun(submitted.id, "cancelled from hodei run (Ctrl-C)").catch(() => {});
      } else {
        process.stderr.write(`Detached without waiting for the cancel to finish. See it with: hodei runs get ${submitted.id}\n`);
        detach?.();
      }
    };
    process.on("SIGINT", onSigint);
    let ended: Run | undefined;
    try {
      const onAttemptEnd = (a: Attempt): void => {
        if (!json) process.stderr.write(`hodei: attempt ${a.attempt} of run ${submitted.id} ${attemptOutcome(a)}; it will be retried\n`);
      };
      ended = await Promise.race([client.followLogs(submitted.id, { follow: true, attempt: submitted.attempt }, json ? () => {} : writeChunk, onAttemptEnd), detached]);
    } finally {
      process.off("SIGINT", onSigint);
    }
    if (!ended) {
      process.exitCode = EXIT.cancelled;
      return withWarnings(runJson(submitted), warnings);
    }
    if (tty) {
      const took = ended.startedAtMs ? ` in ${formatDuration(ended.finishedAtMs - ended.startedAtMs)}` : "";
      const mark = ended.state === "succeeded" ? "\x1b[32m✔" : "\x1b[31m✘";
      process.stderr.write(`${mark} run ${ended.id} ${outcome(ended)}${took}\x1b[0m\n`);
    } else if (!json && ended.state !== "succeeded") {
      process.stderr.write(`hodei: run ${ended.id} ${outcome(ended)}\n`);
    }
    process.exitCode = exitCodeOf(ended);
    return withWarnings(runJson(ended), warnings);
  }
}

/** The job to submit: the target resolved (cli/resolve-job.ts) plus any -e environment. */
async function resolveTarget(target: string, flags: { job?: string; env?: string[] }): Promise<ResolvedJob> {
  const extra = parseEnvFlags(flags.env ?? []);
  const resolved = await resolveJob(target, flags.job);
  return { ...resolved, job: withEnv(resolved.job, extra) };
}

/** --json carries the warnings as data, next to the run. */
const withWarnings = <T extends object>(out: T, warnings: SpecError[]): T | (T & { warnings: SpecError[] }) => (warnings.length > 0 ? { ...out, warnings } : out);
