/**
 * Contexts: named controllers (address, token file, CA) kept in the user's
 * config file, one of them current, so `hodei runs ls` needs no flags or
 * environment. docs/cli-conventions.md, "Contexts".
 *
 * The file is $HODEI_CONFIG_DIR/config.json, else $XDG_CONFIG_HOME/hodei/,
 * else ~/.config/hodei/ (~/Library/Preferences/hodei on macOS); its folder
 * is 0700 and the file 0600, written whole (to a temporary file, renamed), so
 * a crash leaves the old file or the new one. It holds paths, never a token.
 *
 * Which controller a command talks to, first match wins:
 *   1. --controller (and --ca) on the command line
 *   2. HODEI_CONTROLLER (and HODEI_CA), HODEI_TOKEN / HODEI_TOKEN_FILE
 *   3. the current context (its controller, token file and CA)
 *   4. the embedded controller
 * A context's token file and CA go only to that context's controller: with
 * HODEI_CONTROLLER set, a context's token is never sent elsewhere.
 */
import { chmodSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { homedir } from "node:os";
import { dirname, isAbsolute, join, resolve } from "node:path";
import { NotFoundError, UsageError } from "./errors.js";

export interface Context {
  controller: string;
  /** A file holding the API token (absolute). */
  tokenFile?: string;
  /** The CA that signed the controller's certificate (absolute). */
  ca?: string;
}

export interface ContextsFile {
  current?: string;
  contexts: Record<string, Context>;
}

/** The folder of the user's Hodei configuration. */
export function configDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.HODEI_CONFIG_DIR) return env.HODEI_CONFIG_DIR;
  if (env.XDG_CONFIG_HOME) return join(env.XDG_CONFIG_HOME, "hodei");
  if (process.platform === "darwin") return join(homedir(), "Library", "Preferences", "hodei");
  return join(homedir(), ".config", "hodei");
}

export const configFile = (env: NodeJS.ProcessEnv = process.env): string => join(configDir(env), "config.json");

/** A context name: letters, digits, `.`, `_` and `-`, up to 63, starting with a letter or digit. */
export const CONTEXT_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;

export function checkName(name: string): void {
  if (!CONTEXT_NAME.test(name)) throw new UsageError(`bad context name ${JSON.stringify(name.slice(0, 80))}: use letters, digits, '.', '_' and '-' (up to 63, starting with a letter or digit)`);
}

export function readContexts(file = configFile()): ContextsFile {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return { contexts: {} };
    throw new UsageError(`cannot read the hodei config file ${file}: ${(err as Error).message}`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new UsageError(`the hodei config file ${file} is not valid JSON (${(err as Error).message}); fix it or remove it`);
  }
  if (!isObject(parsed) || !isObject(parsed.contexts) || (parsed.current !== undefined && typeof parsed.current !== "string")) {
    throw new UsageError(`the hodei config file ${file} is not a hodei config (expected {"current": NAME, "contexts": {...}}); fix it or remove it`);
  }
  for (const [name, c] of Object.entries(parsed.contexts)) {
    if (!isObject(c) || typeof c.controller !== "string" || !optionalString(c.tokenFile) || !optionalString(c.ca)) {
      throw new UsageError(`context ${JSON.stringify(name)} in ${file} is malformed (needs "controller", and optional "tokenFile" and "ca" strings); fix it or remove it`);
    }
  }
  return parsed as unknown as ContextsFile;
}

/** Writes the file 0600 in a 0700 folder, whole. */
export function writeContexts(data: ContextsFile, file = configFile()): void {
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, JSON.stringify(data, null, 2) + "\n", { mode: 0o600 });
  chmodSync(tmp, 0o600); // whatever the umask
  renameSync(tmp, file);
}

/** A path given on the command line, made absolute so the context works from any folder. */
export const absolute = (p: string): string => (isAbsolute(p) ? p : resolve(p));

export function addContext(name: string, c: Context, file = configFile()): { replaced: boolean; current: boolean } {
  checkName(name);
  const data = readContexts(file);
  const replaced = name in data.contexts;
  data.contexts[name] = c;
  // The first context becomes current: that is why one adds it.
  const current = data.current === undefined || data.current === name;
  if (current) data.current = name;
  writeContexts(data, file);
  return { replaced, current };
}

export function useContext(name: string, file = configFile()): Context {
  const data = readContexts(file);
  const c = data.contexts[name];
  if (!c) throw new NotFoundError(noSuchContext(name, data));
  data.current = name;
  writeContexts(data, file);
  return c;
}

export function removeContext(name: string, file = configFile()): Context {
  const data = readContexts(file);
  const c = data.contexts[name];
  if (!c) throw new NotFoundError(noSuchContext(name, data));
  delete data.contexts[name];
  if (data.current === name) delete data.current;
  writeContexts(data, file);
  return c;
}

/** The current context, if one is set and exists. */
export function currentContext(file = configFile()): (Context & { name: string }) | undefined {
  const data = readContexts(file);
  if (!data.current) return undefined;
  const c = data.contexts[data.current];
  if (!c) throw new UsageError(`the current context ${JSON.stringify(data.current)} is not in ${file}; choose one with hodei context use NAME`);
  return { name: data.current, ...c };
}

function noSuchContext(name: string, data: ContextsFile): string {
  const names = Object.keys(data.contexts);
  return `no context named ${JSON.stringify(name.slice(0, 80))}; ${names.length ? `there are: ${names.join(", ")}` : "there are none yet: add one with hodei context add NAME --controller ADDR"}`;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);
const optionalString = (v: unknown): boolean => v === undefined || typeof v === "string";
