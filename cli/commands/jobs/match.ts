import { Args, Flags } from "@oclif/core";
import { discoverSpecFiles, formatSpecError, loadPaths, type JobDocument, type SpecError } from "../../../schemas/load.js";
import { isRepositoryRoot } from "../../../schemas/discover.js";
import { PULL_REQUEST_TYPES } from "../../../schemas/types.js";
import { matchJob, type TriggerEvent } from "../../../controller/gitops/match.js";
import { HodeiCommand } from "../../base.js";
import { UsageError } from "../../errors.js";
import { table } from "../../format.js";
import { stat } from "node:fs/promises";

const EVENTS = ["push", "pull_request", "schedule", "manual"] as const;

/** The --json output. */
export interface MatchJson {
  event: TriggerEvent;
  /** Every valid Job, in file order. */
  jobs: { name: string; file: string; line: number; run: boolean; reason: string; skippedByPaths?: boolean; reportSkipped?: boolean }[];
  /** Invalid definitions (and "nothing found"): they make the exit code 1 but do not stop the valid jobs from being matched. */
  errors: SpecError[];
}

const noPosition = (file: string, message: string): SpecError => ({ file, line: 0, col: 0, pointer: "", message });

/** A bare name is a branch; refs/... is kept as given (refs/tags/v1 for a tag). */
const pushRef = (ref: string): string => (ref.startsWith("refs/") ? ref : `refs/heads/${ref}`);

/** --changed a,b --changed c → [a, b, c]; --changed "" → [] (nothing changed); left out → undefined (not known). */
function changedFiles(values: string[] | undefined): string[] | undefined {
  if (values === undefined) return undefined;
  return values.flatMap((v) => v.split(",")).map((f) => f.trim()).filter((f) => f !== "").map((f) => f.replace(/^\.\//, ""));
}

export default class JobsMatch extends HodeiCommand {
  static override summary = "Show which jobs an event would start, and why, without pushing anything.";
  static override description =
    "Reads the job definitions under PATH (its .hodei/ folder, found as `hodei validate` finds it), with no controller at all, " +
    "and prints for every job whether the event would start it and the reason: the pattern that matched or excluded it. " +
    "Filters follow GitHub Actions' semantics (docs/triggers.md). " +
    "Invalid definitions are printed on stderr as FILE:LINE:COL: message and do not stop the valid jobs from being matched. " +
    "Exits 0 when every definition is valid (whether or not anything would run), 1 when any definition is invalid or nothing was found, 2 for a usage error. " +
    "With --repo NAME instead of PATH, the definitions the controller has at the head of that repository are matched.";
  static override examples = [
    "<%= config.bin %> jobs match . --event push --ref main --changed src/app.ts,README.md",
    "<%= config.bin %> jobs match . --event push --ref refs/tags/v1.2.0",
    "<%= config.bin %> jobs match . --event pull_request --base main --type opened --changed docs/intro.md",
    "<%= config.bin %> jobs match . --event schedule --json",
  ];
  static override args = {
    path: Args.string({ description: "a working tree (its .hodei/ is read), a .hodei/ folder or a file (default: the current folder)" }),
  };
  static override flags = {
    event: Flags.string({ description: "the event", options: [...EVENTS], required: true }),
    ref: Flags.string({
      description: "push: the pushed ref: a branch name, refs/heads/NAME or refs/tags/NAME (required); pull_request: the head branch (shown, not matched: filters match the base)",
      helpValue: "REF",
    }),
    base: Flags.string({ description: "pull_request: the base branch the pull request targets (required for pull_request)", helpValue: "REF" }),
    changed: Flags.string({
      description: "changed files, comma-separated, repository-relative (repeatable); left out: not known, so paths filters are not evaluated; \"\": nothing changed",
      helpValue: "FILE[,FILE]",
      multiple: true,
    }),
    type: Flags.string({ description: "pull_request: the activity type", options: [...PULL_REQUEST_TYPES], default: "opened" }),
    repo: Flags.string({ description: "match the definitions the controller has at the head of this repository's tracked branch (hodei repos ls), instead of a PATH", helpValue: "NAME" }),
  };
  static override usage = "jobs match [PATH | --repo NAME] --event push|pull_request|schedule|manual [--ref REF] [--base REF] [--changed FILE,...] [--type TYPE]";

  async run(): Promise<MatchJson> {
    const { args, flags, raw } = await this.parse(JobsMatch);
    if (flags.repo !== undefined && args.path !== undefined) throw new UsageError("give a PATH or --repo NAME, not both");
    const given = (name: string): boolean => raw.some((r) => r.type === "flag" && r.flag === name);
    const onlyFor = (flag: string, event: string): void => {
      if (given(flag) && flags.event !== event) throw new UsageError(`--${flag} only applies to --event ${event}`);
    };
    onlyFor("base", "pull_request");
    onlyFor("type", "pull_request");
    if (given("ref") && flags.event !== "push" && flags.event !== "pull_request") throw new UsageError(`--ref does not apply to --event ${flags.event}`);
    if (given("changed") && flags.event !== "push" && flags.event !== "pull_request") throw new UsageError(`--changed does not apply to --event ${flags.event}`);

    const event = this.eventOf(flags);
    const { jobs, errors } = flags.repo !== undefined ? await this.fromController(flags.controller, flags.repo) : await fromPath(args.path ?? ".");
    const output: MatchJson = {
      event,
      jobs: jobs.map(({ doc, file, line }) => {
        const job = doc as JobDocument;
        const triggers = job.spec.triggers;
        const m = matchJob(triggers, event);
        return {
          name: job.metadata.name,
          file,
          line,
          ...m,
          ...(m.skippedByPaths ? { reportSkipped: triggers?.reportSkipped === true } : {}),
        };
      }),
      errors,
    };
    if (errors.length > 0) process.exitCode = 1;
    if (this.jsonEnabled()) return output;

    for (const e of errors) process.stderr.write(`${formatSpecError(e)}\n`);
    // docs/specs.md "Not built yet": only manual runs are acted on today; say so rather than let the table be taken for what happens.
    if (output.jobs.length > 0) {
      process.stdout.write(
        table(
          ["JOB", "RUN", "REASON"],
          output.jobs.map((j) => [j.name, j.run ? "yes" : "no", j.skippedByPaths ? `${j.reason} (skipped by its paths filter${j.reportSkipped ? ", reported as skipped" : ""})` : j.reason]),
        ),
      );
    }
    return output;
  }

  /** The jobs at the head of a registered repository, as the controller has them. */
  private async fromController(controller: string | undefined, repo: string): Promise<Loaded> {
    const client = await this.connect(controller);
    const r = await client.listJobs(repo);
    const jobs = r.jobs.map((j) => ({ doc: JSON.parse(j.jobJson) as JobDocument, file: j.file, line: 0 }));
    // "REPO: FILE:LINE:COL: message" lines, as the controller stored them.
    const errors = r.errors.map((e) => noPosition(repo, e.replace(/^[^:]+: /, "")));
    if (errors.length === 0 && jobs.length === 0) errors.push(noPosition(repo, "the repository defines no jobs at its head (hodei repos get shows its last sync)"));
    return { jobs, errors };
  }

  private eventOf(flags: { event: string; ref?: string; base?: string; changed?: string[]; type: string }): TriggerEvent {
    const changed = changedFiles(flags.changed);
    switch (flags.event) {
      case "push":
        if (flags.ref === undefined || flags.ref === "") throw new UsageError("--event push needs --ref: the pushed branch (main, refs/heads/main) or tag (refs/tags/v1.0.0)");
        return { kind: "push", ref: pushRef(flags.ref), ...(changed === undefined ? {} : { changed }) };
      case "pull_request":
        if (flags.base === undefined || flags.base === "") throw new UsageError("--event pull_request needs --base: the branch the pull request targets (e.g. --base main)");
        return {
          kind: "pull_request",
          action: flags.type,
          base: flags.base,
          ...(flags.ref === undefined ? {} : { head: flags.ref }),
          ...(changed === undefined ? {} : { changed }),
        };
      case "schedule":
        return { kind: "schedule" };
      default:
        return { kind: "manual" };
    }
  }
}

interface Loaded {
  jobs: { doc: unknown; file: string; line: number }[];
  errors: SpecError[];
}

/** The jobs under PATH, read here, with no controller. */
async function fromPath(path: string): Promise<Loaded> {
  const result = await loadPaths([path]);
  const errors = [...result.errors];
  if (errors.length === 0 && (await isDirectory(path)) && (await discoverSpecFiles(path)).length === 0) {
    errors.push(
      noPosition(
        path,
        (await isRepositoryRoot(path)) ? "no .hodei/ folder found (a repository keeps its Hodei definitions in .hodei/)" : "no .yaml or .yml files found (looked in .hodei/, in */.hodei/, in the folder itself and in jobs/)",
      ),
    );
  }
  const jobs = result.documents.filter((d) => d.kind === "Job");
  if (errors.length === 0 && jobs.length === 0) errors.push(noPosition(path, "no jobs found"));
  return { jobs, errors };
}

async function isDirectory(p: string): Promise<boolean> {
  try {
    return (await stat(p)).isDirectory();
  } catch {
    return false;
  }
}
