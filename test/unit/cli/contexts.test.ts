import { mkdtempSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { addContext, configFile, readContexts, removeContext, useContext } from "../../../cli/contexts.js";
import { resolveTarget } from "../../../cli/base.js";
import { NotFoundError, UsageError } from "../../../cli/errors.js";

const fresh = (): NodeJS.ProcessEnv => ({ HODEI_CONFIG_DIR: join(mkdtempSync(join(tmpdir(), "hodei-ctx-unit-")), "cfg") });

describe("contexts file", () => {
  it("is written 0600 in a 0700 folder; the first context becomes current", () => {
    const env = fresh();
    const file = configFile(env);
    expect(addContext("a", { controller: "a:7070", tokenFile: "/t/a" }, file)).toEqual({ replaced: false, current: true });
    expect(addContext("b", { controller: "b:7070" }, file)).toEqual({ replaced: false, current: false });
    expect(addContext("b", { controller: "b2:7070" }, file)).toEqual({ replaced: true, current: false });
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(statSync(env.HODEI_CONFIG_DIR!).mode & 0o777).toBe(0o700);
    expect(readContexts(file)).toEqual({ current: "a", contexts: { a: { controller: "a:7070", tokenFile: "/t/a" }, b: { controller: "b2:7070" } } });
    useContext("b", file);
    expect(readContexts(file).current).toBe("b");
    removeContext("b", file);
    expect(readContexts(file).current).toBeUndefined();
    expect(() => useContext("b", file)).toThrow(NotFoundError);
  });

  it("refuses bad names and broken or hostile files with what to do", () => {
    const file = configFile(fresh());
    for (const bad of ["", "../x", "a b", "-a", "x".repeat(64), "a\x1b[2J"]) expect(() => addContext(bad, { controller: "x" }, file), bad).toThrow(UsageError);
    addContext("ok", { controller: "x" }, file);
    for (const text of ["{", "[]", '{"contexts": []}', '{"contexts": {"a": {"controller": 1}}}', '{"current": 3, "contexts": {}}']) {
      writeFileSync(file, text);
      expect(() => readContexts(file), text).toThrow(/fix it or remove it/);
    }
  });
});

describe("which controller: flags > environment > context > embedded", () => {
  const env = fresh();
  addContext("prod", { controller: "prod.example.com", tokenFile: "/t/prod", ca: "/c/prod.crt" }, configFile(env));

  it("the context when nothing else is given, with its token file and CA", () => {
    expect(resolveTarget({}, [], env)).toMatchObject({ address: "prod.example.com:7070", from: "context", context: "prod", tokenFrom: "context", tokenFile: "/t/prod", ca: "/c/prod.crt", caFrom: "context" });
  });

  it("HODEI_TOKEN over the context's token file; --ca over its CA", () => {
    expect(resolveTarget({ ca: "/mine.crt" }, ["--ca", "/mine.crt"], { ...env, HODEI_TOKEN: "x" })).toMatchObject({ from: "context", tokenFrom: "HODEI_TOKEN", ca: "/mine.crt", caFrom: "flag" });
  });

  it("a controller from the environment or a flag leaves the context out entirely (its token and CA stay with it)", () => {
    // oclif gives --controller the value of HODEI_CONTROLLER when the flag is absent: the command line tells them apart.
    expect(resolveTarget({ controller: "env.example.com" }, [], env)).toEqual({ address: "env.example.com:7070", from: "env", ca: undefined, caFrom: undefined, tokenFrom: "none", tokenFile: undefined });
    expect(resolveTarget({ controller: "flag.example.com:9" }, ["runs", "ls", "--controller", "flag.example.com:9"], env)).toMatchObject({ address: "flag.example.com:9", from: "flag", tokenFrom: "none" });
    expect(resolveTarget({ controller: "f:1" }, ["--controller=f:1"], { ...env, HODEI_TOKEN_FILE: "/t/env" })).toMatchObject({ from: "flag", tokenFrom: "HODEI_TOKEN_FILE", tokenFile: "/t/env" });
  });

  it("no context and no controller: the embedded one", () => {
    const t = resolveTarget({}, [], fresh());
    expect(t.from).toBe("embedded");
    expect(t.address).toBeUndefined();
  });

  it("the file holds paths, never a token", () => {
    expect(readFileSync(configFile(env), "utf8")).not.toMatch(/hodei_/);
  });
});
