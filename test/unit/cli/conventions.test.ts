/**
 * Conventions every command keeps (docs/cli-conventions.md), read from the
 * oclif manifest the build writes: a summary, a description and examples for
 * --help; --json with a committed schema (schemas/cli/); the GLOBAL flags.
 * The e2e tests (test/e2e/cli-json.test.ts) check the output against the schemas.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ROOT } from "../../helpers/procs.js";
import { assertShape, schemaNameOf, schemaNames } from "../../helpers/cli-schemas.js";
import { EXIT, exitCodeFor, ControllerError, ControllerUnreachableError, UsageError, NotFoundError, CliError } from "../../../cli/errors.js";

interface ManifestCommand {
  id: string;
  summary?: string;
  description?: string;
  examples?: string[];
  hidden?: boolean;
  pluginName?: string;
  enableJsonFlag?: boolean;
  flags: Record<string, { name: string }>;
}

const manifest = JSON.parse(readFileSync(join(ROOT, "oclif.manifest.json"), "utf8")) as { commands: Record<string, ManifestCommand> };
const commands = Object.values(manifest.commands).filter((c) => !c.hidden);
/** Daemons serve rather than answer: they log (pino JSON with --log-format where offered), they have no --json result. */
const DAEMONS = new Set(["agent", "controller"]);
/** Commands whose output is a completion script. */
const SCRIPTS = new Set(["autocomplete:fish"]);
/** Interactive screens: no result to print as JSON (scripts use runs ls --json and logs --json); they keep --no-color. */
const SCREENS = new Set(["watch"]);

describe("every command", () => {
  it("the manifest has them all (a build writes it)", () => {
    expect(commands.length).toBeGreaterThan(30);
  });

  it.each(commands.map((c) => [c.id, c] as const))("%s has a summary, a description and examples", (_id, c) => {
    expect(c.summary ?? "", "summary").not.toBe("");
    expect(c.description ?? "", "description").not.toBe("");
    expect(c.examples?.length ?? 0, "examples").toBeGreaterThan(0);
  });

  it.each(commands.filter((c) => SCREENS.has(c.id)).map((c) => [c.id, c] as const))("%s takes --no-color and has no --json (an interactive screen)", (_id, c) => {
    expect(c.flags["no-color"], "--no-color").toBeDefined();
    expect(c.flags.json, "--json").toBeUndefined();
  });

  it.each(commands.filter((c) => !DAEMONS.has(c.id) && !SCRIPTS.has(c.id) && !SCREENS.has(c.id)).map((c) => [c.id, c] as const))("%s takes --json and --no-color, and has a committed schema", (id, c) => {
    expect(c.flags.json, "--json").toBeDefined();
    expect(c.flags["no-color"], "--no-color").toBeDefined();
    expect(schemaNames()).toContain(schemaNameOf(id));
  });

  it("every schema belongs to a command (or is the error shape)", () => {
    const ids = new Set(commands.map((c) => schemaNameOf(c.id)));
    for (const name of schemaNames()) if (name !== "error") expect(ids, name).toContain(name);
  });
});

describe("the schemas", () => {
  it("accept a well-formed error and refuse an undocumented field", () => {
    assertShape("error", { error: { name: "ControllerError", message: "m", exitCode: 4, kind: "not_found", retryable: false } });
    expect(() => assertShape("error", { error: { name: "x", message: "m", exitCode: 4 }, extra: 1 })).toThrow(/must NOT have additional properties/);
    expect(() => assertShape("context-add", { name: "a", controller: "c", tokenFile: null, ca: null, current: true, replaced: false, file: "f", surprise: 1 })).toThrow(/unevaluated/);
    assertShape("context-add", { name: "a", controller: "c", tokenFile: null, ca: null, current: true, replaced: false, file: "f" });
  });
});

describe("one exit-code table (cli/errors.ts)", () => {
  it("maps each kind of failure to its code", () => {
    expect(EXIT).toMatchObject({ ok: 0, failed: 1, usage: 2, unreachable: 3, notFound: 4, permission: 5, timedOut: 124, failure: 125, cancelled: 130 });
    expect(exitCodeFor(new UsageError("x"))).toBe(2);
    expect(exitCodeFor(new ControllerUnreachableError("a:1", "refused"))).toBe(3);
    expect(exitCodeFor(new NotFoundError("x"))).toBe(4);
    const remote = (kind: ConstructorParameters<typeof ControllerError>[1]): number => exitCodeFor(new ControllerError("x", kind, false));
    expect([remote("invalid"), remote("unavailable"), remote("not_found"), remote("permission"), remote("conflict"), remote("internal")]).toEqual([2, 3, 4, 5, 1, 125]);
    expect(exitCodeFor(new CliError("x"))).toBe(125);
    expect(exitCodeFor(new Error("x"))).toBe(125);
  });
});
