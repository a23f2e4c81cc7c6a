import { Args, Command } from "@oclif/core";
import { noColorFlag } from "../flags.js";
import { stat } from "node:fs/promises";
import { isRepositoryRoot } from "../../schemas/discover.js";
import { discoverSpecFiles, formatSpecError, formatSpecWarning, loadPaths, warningsOf, type Kind, type SpecError } from "../../schemas/load.js";

/** The --json output. */
export interface ValidateJson {
  valid: boolean;
  documents: { kind: Kind; name: string; file: string; line: number }[];
  errors: SpecError[];
  /** Fields and kinds accepted but not acted on yet (schemas/unbuilt.ts); they do not make the result invalid. */
  warnings: SpecError[];
}

const plural = (n: number, word: string): string => `${n} ${word}${n === 1 ? "" : "s"}`;

async function isDirectory(p: string): Promise<boolean> {
  try {
    return (await stat(p)).isDirectory();
  } catch {
    return false;
  }
}

const noPosition = (file: string, message: string): SpecError => ({ file, line: 0, col: 0, pointer: "", message });

export default class Validate extends Command {
  static override summary = "Check job, policy and provider definitions without running anything.";
  static override description =
    "Loads every document in the given files and folders and prints one line per problem, as FILE:LINE:COL: message (at /json/pointer), " +
    "then a summary on stderr. Fields that are accepted but not acted on yet (concurrency, secrets, ...) are warnings on stderr, which do not fail the check. " +
    "A folder means its .hodei/**/*.yaml (and .yml), or its subfolders' .hodei/ (`hodei validate examples`); a repository's top is never read beyond .hodei/. " +
    "A folder named .hodei, or one holding YAML directly or in jobs/, works too. " +
    "Exits 0 when everything is valid, 1 when there is any error or when nothing was found to validate (a wrong path should not pass CI).";
  static override examples = [
    "<%= config.bin %> validate",
    "<%= config.bin %> validate examples/hello",
    "<%= config.bin %> validate .hodei/jobs/build.yaml .hodei/jobs/deploy.yaml",
    "<%= config.bin %> validate --json",
  ];
  static override args = {
    path: Args.string({ description: "files or folders to check (default: the current folder); give as many as you like" }),
  };
  static override flags = { "no-color": noColorFlag };
  static override strict = false; // any number of paths
  static override enableJsonFlag = true;
  static override usage = "validate [PATH...]";

  async run(): Promise<ValidateJson> {
    const { argv } = await this.parse(Validate);
    const paths = argv.length > 0 ? argv.map(String) : ["."];
    const result = await loadPaths(paths);
    const errors = [...result.errors];
    for (const p of paths) {
      if ((await isDirectory(p)) && (await discoverSpecFiles(p)).length === 0) {
        errors.push(
          noPosition(
            p,
            (await isRepositoryRoot(p))
              ? "no .hodei/ folder found (a repository keeps its Hodei definitions in .hodei/; only that folder is read)"
              : "no .yaml or .yml files found (looked in .hodei/, in */.hodei/, in the folder itself and in jobs/)",
          ),
        );
      }
    }
    if (errors.length === 0 && result.documents.length === 0) {
      for (const p of paths) errors.push(noPosition(p, "no documents found (the files are empty)"));
    }

    const output: ValidateJson = {
      valid: errors.length === 0,
      documents: result.documents.map(({ kind, name, file, line }) => ({ kind, name, file, line })),
      errors,
      warnings: warningsOf(result),
    };
    if (this.jsonEnabled()) {
      // this.exit() would throw, and oclif would print the ExitError as the
      // JSON instead of our result; setting the exit code lets it print ours.
      if (!output.valid) process.exitCode = 1;
      return output;
    }
    for (const e of errors) this.log(formatSpecError(e));
    for (const w of output.warnings) this.logToStderr(formatSpecWarning(w));
    const warned = output.warnings.length > 0 ? ` (${plural(output.warnings.length, "warning")}: accepted but not acted on yet)` : "";
    const docs = plural(result.documents.length, "document");
    if (output.valid) {
      this.logToStderr(`${docs} valid in ${plural(result.files.length, "file")}${warned}`);
      return output;
    }
    const badFiles = new Set(errors.map((e) => e.file)).size;
    this.logToStderr(`${docs} valid, ${plural(errors.length, "error")} in ${plural(badFiles, "file")}${warned}`);
    this.exit(1);
  }
}
