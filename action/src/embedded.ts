/**
 * `mode: embedded`: Hodei's embedded controller and its local agent inside
 * the Actions runner, so a `.hodei/` job runs here as it runs on a real
 * controller. The daemon is the one `hodei` uses with no controller
 * configured (cli/embedded.ts): a fresh data dir under RUNNER_TEMP, reached
 * over its unix socket with the admin token it writes there, stopped when the
 * step ends.
 *
 * The bundle (action/dist/index.js) does not carry the daemon: it needs
 * PGlite's WebAssembly and data files and the agent's own process, so it is
 * the packaged `hodei` that runs it, found in this order:
 *   1. the workspace's node_modules/.bin/hodei (a project that pins hodei);
 *   2. `hodei` on PATH (e.g. after `npm install -g hodei`);
 *   3. `npx --yes hodei@<the Action's version>` (downloads it once per job).
 */
import { accessSync, constants, existsSync, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { delimiter, join } from "node:path";
import { daemonLogOf, ensureDaemon, stopDaemon, tokenFileOf } from "../../cli/embedded.js";

/** The package version the bundle was built from (scripts/build-action.mjs defines it; unbuilt, as in tests: the newest). */
declare const HODEI_ACTION_VERSION: string | undefined;
const VERSION = typeof HODEI_ACTION_VERSION === "string" ? HODEI_ACTION_VERSION : "latest";

/** Long enough for `npx` to download hodei and the daemon to create its database on a slow runner. */
const START_TIMEOUT_MS = 5 * 60_000;

export interface Embedded {
  address: string;
  token: string;
  /** How the daemon was started (for the log). */
  command: string[];
  dataDir: string;
  stop(): Promise<void>;
}

function executable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** The `hodei` to run the daemon with (see the list above). */
export function findHodei(workspace: string, env: NodeJS.ProcessEnv = process.env): string[] {
  const local = join(workspace, "node_modules", ".bin", "hodei");
  if (executable(local)) return [local];
  for (const dir of (env.PATH ?? "").split(delimiter)) {
    if (dir && executable(join(dir, "hodei"))) return [join(dir, "hodei")];
  }
  return ["npx", "--yes", `hodei@${VERSION}`];
}

/** Starts the embedded controller (and its agent) in a new data dir; resolves once it listens. */
export async function startEmbedded(workspace: string, env: NodeJS.ProcessEnv = process.env): Promise<Embedded> {
  const dataDir = mkdtempSync(join(env.RUNNER_TEMP || tmpdir(), "hodei-"));
  const command = findHodei(workspace, env);
  // Should this step be killed outright, the daemon does not outlive it by long.
  process.env.HODEI_EMBEDDED_IDLE ||= "2m";
  let address: string;
  try {
    address = await ensureDaemon(dataDir, { command, timeoutMs: START_TIMEOUT_MS });
  } catch (err) {
    const log = existsSync(daemonLogOf(dataDir)) ? readFileSync(daemonLogOf(dataDir), "utf8").trim().split("\n").slice(-20).join("\n") : "";
    throw new Error(`the embedded controller (${command.join(" ")} embedded serve) did not start${log ? `; its log ends:\n${log}` : ""}`, { cause: err });
  }
  const token = readFileSync(tokenFileOf(dataDir), "utf8").trim();
  return {
    address,
    token,
    command,
    dataDir,
    stop: async () => {
      await stopDaemon(dataDir, 30_000).catch(() => {});
    },
  };
}
