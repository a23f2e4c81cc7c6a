/**
 * The small things a newcomer trips on, each against the built `hodei`:
 * help and version, unknown commands, controller addresses, messages that say
 * what to do, YAML errors at the right line, what `validate` reads.
 */
import { describe, expect, it } from "vitest";
import { execFileSync } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { ROOT, hodei, tempDir } from "../helpers/procs.js";

const dir = tempDir("hodei-newcomer-");
const env = { HODEI_DATA_DIR: join(dir, "data") };

function file(name: string, text: string): string {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
}

describe("help, version and unknown commands", () => {
  it("-h, --help, --version and version all work and exit 0", async () => {
    for (const args of [["-h"], ["--help"], ["runs", "ls", "-h"]]) {
      const r = await hodei(args, { env });
      expect({ args, code: r.code, usage: r.stdout.toString().includes("USAGE") }).toEqual({ args, code: 0, usage: true });
    }
    for (const args of [["--version"], ["version"]]) {
      const r = await hodei(args, { env });
      expect({ args, code: r.code, out: r.stdout.toString() }).toEqual({ args, code: 0, out: expect.stringMatching(/^hodei\/\d+\.\d+\.\d+ /) });
    }
  });

  it("an unknown command suggests the closest one and exits 2", async () => {
    const typo = await hodei(["runs", "lss"], { env });
    expect([typo.code, typo.stderr]).toEqual([2, expect.stringContaining('"runs lss" is not a hodei command. Did you mean `hodei runs ls`?')]);
    const nosuch = await hodei(["runs", "nosuch"], { env });
    expect([nosuch.code, nosuch.stderr]).toEqual([2, expect.stringContaining('Commands under "runs": get, ls.')]);
    const topic = await hodei(["rnus"], { env });
    expect([topic.code, topic.stderr]).toEqual([2, expect.stringContaining("Did you mean `hodei runs`?")]);
  });
});

describe("controller addresses", () => {
  it("--controller HOST without a port uses 7070, and grpc-js's raw texts never show", async () => {
    const r = await hodei(["runs", "ls", "--controller", "nosuchhost.invalid"], { env });
    expect(r.code).toBe(3);
    expect(r.stderr).toContain("cannot reach the controller at nosuchhost.invalid:7070 (the host name does not resolve)");
    const refused = await hodei(["runs", "ls", "--controller", "127.0.0.1:1"], { env });
    expect(refused.code).toBe(3);
    expect(refused.stderr).toContain("cannot reach the controller at 127.0.0.1:1 (connection refused)");
    for (const text of [r.stderr, refused.stderr]) expect(text).not.toMatch(/Resolution note|Last error|No connection established|ECONN|ENOTFOUND/);
  });
});

describe("hodei run says what to do", () => {
  it("a file with no Job, or several, names what is there and how to choose", async () => {
    const policy = readFileSync(join(ROOT, "test/fixtures/specs/valid/policy.yaml"), "utf8");
    const none = await hodei(["run", file("policy.yaml", policy)], { env });
    expect([none.code, none.stderr]).toEqual([2, expect.stringContaining("defines no Job (only Policy); hodei run needs a file with a `kind: Job` document")]);
    const two = file("two.yaml", ["a", "b"].map((n) => `apiVersion: hodei.dev/v1\nkind: Job\nmetadata: { name: ${n} }\nspec: { run: echo ${n} }\n`).join("---\n"));
    const r = await hodei(["run", two], { env });
    expect([r.code, r.stderr]).toEqual([2, expect.stringContaining("defines 2 jobs (a, b); choose one with --job NAME")]);
  });
});

describe("YAML syntax errors point at the line of the problem", () => {
  const head = "apiVersion: hodei.dev/v1\nkind: Job\nmetadata:\n";
  it("an unclosed quote, at the quote", async () => {
    const r = await hodei(["validate", file("quote.yaml", `${head}  name: "x\nspec:\n  run: echo hi\n`)]);
    expect([r.code, r.stdout.toString()]).toEqual([1, `${join(dir, "quote.yaml")}:4:9: invalid YAML: this quote is never closed\n`]);
  });
  it("an unclosed bracket, at the bracket", async () => {
    const r = await hodei(["validate", file("bracket.yaml", `${head}  name: x\nspec:\n  run: [echo, hi\n  timeout: 5m\n`)]);
    expect(r.stdout.toString()).toMatch(new RegExp(`^${join(dir, "bracket.yaml")}:6:8: invalid YAML: this \\[ is never closed`));
  });
  it("a line indented too deep, at that line", async () => {
    const r = await hodei(["validate", file("indent.yaml", `${head}  name: x\nspec:\n  run: echo hi\n  timeout: 5m\n   env: { A: "1" }\n`)]);
    expect(r.stdout.toString()).toBe(`${join(dir, "indent.yaml")}:8:4: invalid YAML: this line is indented deeper than the key above it allows (a key here needs the same indentation as its siblings)\n`);
  });
});

describe("what validate reads", () => {
  it("`validate .` at a repository's top reads only .hodei/, not its other YAML", async () => {
    const repo = tempDir("hodei-repo-");
    execFileSync("git", ["init", "-q", repo]);
    writeFileSync(join(repo, "buf.yaml"), "version: v2\nmodules: [{ path: proto }]\n");
    const bare = await hodei(["validate", "."], { cwd: repo });
    expect([bare.code, bare.stdout.toString()]).toEqual([1, ".: no .hodei/ folder found (a repository keeps its Hodei definitions in .hodei/; only that folder is read)\n"]);
    mkdirSync(join(repo, ".hodei/jobs"), { recursive: true });
    writeFileSync(join(repo, ".hodei/jobs/build.yaml"), "apiVersion: hodei.dev/v1\nkind: Job\nmetadata: { name: build }\nspec: { run: make }\n");
    const r = await hodei(["validate", "."], { cwd: repo });
    expect([r.code, r.stderr]).toEqual([0, "1 document valid in 1 file\n"]);
  });

  it("`validate examples` finds examples/*/.hodei", async () => {
    const r = await hodei(["validate", "examples"]);
    expect([r.code, r.stderr]).toEqual([0, "4 documents valid in 4 files\n"]);
  });
});

describe("the README", () => {
  it("creates the database before starting the controller on it", () => {
    const readme = readFileSync(join(ROOT, "README.md"), "utf8");
    const create = readme.indexOf("createdb -h 127.0.0.1 -U postgres hodei");
    expect(create).toBeGreaterThan(0);
    expect(readme.indexOf("controller --database-url postgres://postgres@127.0.0.1:5432/hodei")).toBeGreaterThan(create);
  });

  it("gives its agent a join token made after the controller starts (agents must prove who they are)", () => {
    const readme = readFileSync(join(ROOT, "README.md"), "utf8");
    const controller = readme.indexOf("controller --database-url postgres://postgres@127.0.0.1:5432/hodei --listen");
    const token = readme.indexOf("agents token create --labels pool=a > join.token");
    const agent = readme.indexOf("agent --controller 127.0.0.1:7070 --token-file join.token");
    expect(controller).toBeGreaterThan(0);
    expect(token).toBeGreaterThan(controller);
    expect(agent).toBeGreaterThan(token);
  });
});
