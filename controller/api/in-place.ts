/**
 * `hodei run --in-place` (docs/specs.md, "The working tree in the job"): the
 * run's workspace is a directory the submitter names, used as it is. That is
 * only sound where the controller's one agent runs on the submitter's own
 * machine, as the submitter: the embedded daemon, which alone starts its
 * controller with allowInPlace. Any other controller refuses, so no client can
 * make a fleet's agent write into (or read) an arbitrary path of its host.
 */
import { stat } from "node:fs/promises";
import { isAbsolute } from "node:path";
import { status } from "@grpc/grpc-js";
import { conflict, invalid } from "./errors.js";

/** Paths longer than this are refused (as runs.workspace_dir's check); Linux's PATH_MAX is 4096. */
const MAX_DIR = 4096;

/** The directory, checked: this controller allows runs in place, and it is an absolute path to an existing directory. */
export async function checkInPlaceDir(dir: string, allowed: boolean): Promise<string> {
  if (!allowed) {
    throw conflict(
      "this controller does not run jobs in place: --in-place runs the job in the submitter's working tree, so it needs the embedded controller on that machine; " +
        "a remote agent cannot see those files. Run without --in-place (the working tree is uploaded as a source bundle)",
      status.FAILED_PRECONDITION,
    );
  }
  if (dir.length > MAX_DIR) throw invalid(`in_place_dir is ${dir.length} characters; the limit is ${MAX_DIR}`);
  if (dir.includes("\0")) throw invalid("in_place_dir contains a NUL character");
  if (!isAbsolute(dir)) throw invalid(`in_place_dir must be an absolute path, got "${dir}"`);
  let isDir: boolean;
  try {
    isDir = (await stat(dir)).isDirectory();
  } catch (err) {
    throw conflict(`cannot run in place in ${dir}: ${(err as NodeJS.ErrnoException).code === "ENOENT" ? "it does not exist" : (err as Error).message}`);
  }
  if (!isDir) throw conflict(`cannot run in place in ${dir}: it is not a directory`);
  return dir;
}
