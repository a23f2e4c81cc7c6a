/**
 * What the Action does with its settings: reach the controller (or start the
 * embedded one), submit the run once per workflow step (idempotency key),
 * follow its log into the workflow log, and report: outputs, step summary,
 * an `::error::` annotation and a failed step when the run did not succeed.
 * A cancelled workflow (SIGINT, then SIGTERM from the runner) cancels the run.
 *
 * Hodei's own pieces do the work: the client and its log follower
 * (cli/client.ts), the job loader (cli/resolve-job.ts over schemas/), the
 * working-tree packer (cli/source-bundle.ts), TLS (cli/tls.ts).
 */
import * as core from "@actions/core";
import { createHash, randomUUID } from "node:crypto";
import { mkdtempSync, writeFileSync } from "node:fs";
import { constants as osConstants, tmpdir } from "node:os";
import { join, relative } from "node:path";
import { ControlClient } from "../../cli/client.js";
import { ControllerError, ControllerUnreachableError } from "../../cli/errors.js";
import { outcome, attemptOutcome } from "../../cli/format.js";
import { resolveJob, withEnv } from "../../cli/resolve-job.js";
import { makeSourceBundle } from "../../cli/source-bundle.js";
import { cliCredentials } from "../../cli/tls.js";
import { formatSpecWarning } from "../../schemas/load.js";
import type { Attempt, Run } from "../../proto/gen/hodei/v1/control.js";
import type { Settings, Workflow } from "./settings.js";
import { startEmbedded, type Embedded } from "./embedded.js";
import { durationMs, summaryMarkdown } from "./summary.js";
import { WorkflowLog } from "./workflow-log.js";

const ENDED = ["succeeded", "failed", "cancelled", "timed_out"];
/** After a cancelled workflow's SIGINT the runner sends SIGTERM 7.5 s later and SIGKILL 2.5 s after that: wait at most this long for the run to stop. */
const ABORT_WAIT_MS = 7_000;
/** After the Action's own timeout cancelled the run, how long it waits for the run to stop. */
const CANCEL_WAIT_MS = 60_000;
const CONNECT_TIMEOUT_MS = 15_000;

/** The port `hodei controller` listens on by default (as `hodei --controller HOST`). */
const DEFAULT_PORT = 7070;
function withDefaultPort(address: string): string {
  if (!address.startsWith("[") && (address.match(/:/g) ?? []).length > 1) return `[${address}]:${DEFAULT_PORT}`;
  return /:\d+$/.test(address) ? address : `${address}:${DEFAULT_PORT}`;
}

/**
 * One key per workflow run, attempt and step: a step re-executed within the
 * same attempt gets the run it submitted before, never a second one; a
 * re-run of the workflow (a new attempt) submits anew.
 */
export function idempotencyKey(w: Workflow): string {
  if (!w.runId) return randomUUID();
  const digest = createHash("sha256").update(JSON.stringify([w.repository, w.runId, w.runAttempt, w.job, w.step])).digest("hex").slice(0, 32);
  return `github-actions:${w.runId}.${w.runAttempt}:${digest}`;
}

/** The job's own exit code (128+signal when a signal killed it); "" when it has none (never started, timed out, cancelled). */
export function jobExitCode(r: Run): string {
  if (r.reason === "exited" && r.exitCode !== undefined) return String(r.exitCode);
  if (r.reason === "signaled" && r.signal) {
    const n = (osConstants.signals as Record<string, number>)[r.signal];
    return n ? String(128 + n) : "";
  }
  return "";
}

/** A failure the Action reports as its `::error::` (what went wrong and what to do). */
function describe(err: unknown, s: Settings, address: string): string {
  if (err instanceof ControllerUnreachableError) {
    const [first, ...advice] = err.message.split("\n");
    const generic = advice.join(" ").includes("HODEI_CONTROLLER");
    // The CLI's advice names its flags; here they are inputs.
    const tlsAdvice = `${advice.join(" ")}${/--ca/.test(advice.join(" ")) ? ' (Here --ca and HODEI_CA are the Action\'s "ca" input.)' : ""}`;
    const hint = s.mode === "embedded" ? "" : generic ? ' Check the "controller" input, and that this runner can reach that address (a self-hosted runner on its network, or a public address).' : ` ${tlsAdvice}`;
    return `${first!.replace(/^cannot reach the controller/, "cannot reach the Hodei controller")}${hint}`;
  }
  if (err instanceof ControllerError) {
    // The controller's advice is the CLI's (HODEI_TOKEN...); here the token is an input.
    if (/API token/.test(err.message)) return `the Hodei controller at ${address} refused the token: ${err.message.replace(/: set HODEI_TOKEN[\s\S]*$/, "")}. Check the "token" input (a token from hodei tokens create, passed from a secret).`;
    return `the Hodei controller at ${address} refused: ${err.message}`;
  }
  return (err as Error).message || String(err);
}

/** Runs the Action; resolves with the process exit code. */
export async function runAction(s: Settings): Promise<number> {
  if (s.token) core.setSecret(s.token);
  const w = s.workflow;
  let embedded: Embedded | undefined;
  let client: ControlClient | undefined;
  let address = s.controller ? withDefaultPort(s.controller) : "";
  const from = s.target.kind === "repo" ? `${s.target.repo}@${s.target.ref}` : "";
  try {
    // The job is read first: a bad file starts nothing.
    let submit: (c: ControlClient, key: string) => Promise<Run>;
    let source = from;
    if (s.target.kind === "repo") {
      const t = s.target;
      submit = (c, key) => c.runJob({ repo: t.repo, job: t.job, ref: t.ref, env: s.env, idempotencyKey: key });
    } else {
      const t = s.target;
      const resolved = t.kind === "file" ? await resolveJob(relative(w.workspace, t.spec), t.job, w.workspace) : await resolveJob(t.job, undefined, w.workspace);
      for (const warning of resolved.warnings) core.warning(formatSpecWarning(warning));
      const job = withEnv(resolved.job, s.env);
      source = resolved.source;
      const bundle = makeSourceBundle(join(w.workspace, resolved.source));
      bundle.catch(() => {}); // awaited in submit
      submit = async (c, key) => c.submitRun({ jobJson: JSON.stringify(job), source: resolved.source, idempotencyKey: key, sourceBundle: (await bundle).data });
    }

    let token = s.token;
    if (s.mode === "embedded") {
      core.startGroup("Starting Hodei's embedded controller and agent");
      try {
        embedded = await startEmbedded(w.workspace);
        core.info(`${embedded.command.join(" ")} embedded serve: listening on ${embedded.address} (data dir ${embedded.dataDir})`);
      } finally {
        core.endGroup();
      }
      address = embedded.address;
      token = embedded.token;
      core.setSecret(token);
    }
    client = new ControlClient(address, cliCredentials(address, caFile(s)), token);
    // Reachable, and the token is good: a clear error now rather than a submission retried for a minute.
    await withTimeout(client.whoAmI(), CONNECT_TIMEOUT_MS + 5_000, () => new ControllerUnreachableError(address, "no answer in time"));

    const key = idempotencyKey(w);
    const submitted = await submit(client, key);
    core.setOutput("run-id", submitted.id);
    core.info(`Submitted run ${submitted.id} (job ${submitted.jobName}) to ${s.mode === "embedded" ? "the embedded controller" : address}`);
    if (!s.wait) {
      core.setOutput("status", submitted.state);
      core.setOutput("attempts", String(submitted.attempt));
      await core.summary.addRaw(`### Hodei: submitted run ${submitted.id} (\`${submitted.jobName}\`), not waiting for it (wait: false)\n`).write();
      return 0;
    }
    const ended = await follow(client, submitted, s);
    return await report(ended.run, ended.log, s, address, source, ended.why);
  } catch (err) {
    const message = describe(err, s, address);
    core.setFailed(message);
    await core.summary
      .addRaw(`### ❌ Hodei: the run could not be ${client ? "submitted" : "started"}\n\n`)
      .addRaw(`${message.replace(/[<>&]/g, (c) => ({ "<": "&lt;", ">": "&gt;", "&": "&amp;" })[c]!)}\n`)
      .write()
      .catch(() => {});
    return 1;
  } finally {
    client?.close();
    await embedded?.stop();
  }
}

function caFile(s: Settings): string | undefined {
  if (!s.ca) return undefined;
  if ("file" in s.ca) return s.ca.file;
  const dir = mkdtempSync(join(process.env.RUNNER_TEMP || tmpdir(), "hodei-ca-"));
  writeFileSync(join(dir, "ca.crt"), s.ca.pem, { mode: 0o600 });
  return join(dir, "ca.crt");
}

function withTimeout<T>(p: Promise<T>, ms: number, err: () => Error): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([p, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(err()), ms)))]).finally(() => clearTimeout(timer));
}

interface Followed {
  run: Run;
  log: WorkflowLog;
  /** Why the Action stopped waiting before the run ended, if it did. */
  why?: string;
}

/** Follows the run to its end (or until the workflow is cancelled or the timeout passes). */
async function follow(client: ControlClient, submitted: Run, s: Settings): Promise<Followed> {
  const log = new WorkflowLog(submitted.id, submitted.jobName, s.followLogs);
  let stopWaiting: ((why: string) => void) | undefined;
  const gaveUp = new Promise<string>((resolve) => (stopWaiting = resolve));
  let aborted: string | undefined;
  let signals = 0;
  const onSignal = (sig: NodeJS.Signals): void => {
    signals++;
    if (signals > 1) return stopWaiting?.(`the workflow was cancelled (${sig})`);
    aborted = `the workflow was cancelled (${sig})`;
    if (!s.cancelOnAbort) return stopWaiting?.(`${aborted}; cancel-on-abort is false, so run ${submitted.id} goes on`);
    log.note(`hodei: ${aborted}: cancelling run ${submitted.id}`);
    client.cancelRun(submitted.id, `${aborted} (GitHub Actions)`).catch(() => {});
    setTimeout(() => stopWaiting?.(`${aborted}; run ${submitted.id} was asked to cancel but had not stopped after ${ABORT_WAIT_MS / 1000} s`), ABORT_WAIT_MS).unref();
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  let timer: NodeJS.Timeout | undefined;
  let timedOut = false;
  if (s.timeoutMs !== undefined) {
    timer = setTimeout(() => {
      timedOut = true;
      log.note(`hodei: the Action's timeout (${s.timeout}) passed: cancelling run ${submitted.id}`);
      client.cancelRun(submitted.id, `the GitHub Action's timeout (${s.timeout}) passed`).catch(() => {});
      setTimeout(() => stopWaiting?.(`the Action's timeout (${s.timeout}) passed and run ${submitted.id} had not stopped ${CANCEL_WAIT_MS / 1000} s after being cancelled`), CANCEL_WAIT_MS).unref();
    }, s.timeoutMs);
  }
  log.attempt(submitted.attempt || 1);
  try {
    const onAttemptEnd = (a: Attempt): void => {
      log.note(`hodei: attempt ${a.attempt} ${attemptOutcome(a)}; it will be retried`);
      log.close();
    };
    const following = client.followLogs(submitted.id, { follow: true, attempt: submitted.attempt }, (c) => log.chunk(c), onAttemptEnd);
    following.catch(() => {}); // when we stop waiting early, its later failure is nobody's business
    const result = await Promise.race([following, gaveUp]);
    log.close();
    if (typeof result === "string" || result === undefined) {
      const now = await client.getRun(submitted.id).catch(() => submitted);
      return { run: now, log, why: result ?? "the log stream ended early" };
    }
    let ended: Run = result;
    // The stream's last event carries the run's end; the run as stored has every attempt (for the duration).
    const stored = await client.getRun(ended.id).catch(() => ended);
    if (stored.state === ended.state && stored.attempts.length >= ended.attempts.length) ended = stored;
    if (timedOut && ended.state === "cancelled") return { run: ended, log, why: `the Action's timeout (${s.timeout}) passed, so run ${ended.id} was cancelled` };
    if (aborted && ended.state === "cancelled") return { run: ended, log, why: `${aborted}, so run ${ended.id} was cancelled` };
    return { run: ended, log };
  } finally {
    clearTimeout(timer);
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
  }
}

/** Outputs, summary, annotation; the exit code of the step. */
async function report(run: Run, log: WorkflowLog, s: Settings, address: string, source: string, why: string | undefined): Promise<number> {
  const ms = durationMs(run);
  core.setOutput("run-id", run.id);
  core.setOutput("status", run.state);
  core.setOutput("exit-code", jobExitCode(run));
  core.setOutput("attempts", String(run.attempt));
  core.setOutput("duration-seconds", String(Math.round(ms / 100) / 10));
  const commit = s.target.kind === "repo" ? s.target.ref : s.workflow.sha;
  await core.summary.addRaw(summaryMarkdown({ run, commit, from: source, mode: s.mode, controller: address, tail: log.tail() })).write();
  if (run.state === "succeeded" && !why) {
    core.info(`Hodei run ${run.id} (${run.jobName}) succeeded`);
    return 0;
  }
  const ended = ENDED.includes(run.state);
  core.setFailed(why ?? `Hodei run ${run.id} (job ${run.jobName}) ${ended ? outcome(run) : run.state}${run.attempt > 1 ? ` after ${run.attempt} attempts` : ""}`);
  return 1;
}
