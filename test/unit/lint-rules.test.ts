/**
 * The import directions of docs/architecture.md, as `npm run lint:deps`
 * (dependency-cruiser) checks them: the real tree passes, and a copy of it
 * with one deliberate bad import fails, naming the rule.
 */
import { execFile } from "node:child_process";
import { cpSync, mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ROOT, tempDir } from "../helpers/procs.js";

const SCRIPT = (JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { scripts: Record<string, string> }).scripts["lint:deps"]!;
const COPIED = ["action/src", "agent", "cli", "controller", "mask", "schemas", "proto", "test", "scripts", "package.json", "tsconfig.json", ".dependency-cruiser.json"];

/** Runs the lint:deps command line in `cwd`, with the repository's node_modules/.bin on PATH. */
function lintDeps(cwd: string): Promise<{ code: number; output: string }> {
  return new Promise((resolve) => {
    execFile("sh", ["-c", SCRIPT], { cwd, env: { ...process.env, PATH: `${join(ROOT, "node_modules/.bin")}:${process.env.PATH}` } }, (err, stdout, stderr) =>
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, output: stdout + stderr }),
    );
  });
}

let copy: string;

beforeAll(() => {
  copy = tempDir("hodei-lint-rules-");
  for (const p of COPIED) cpSync(join(ROOT, p), join(copy, p), { recursive: true, filter: (src) => !src.includes("/node_modules") });
  symlinkSync(join(ROOT, "node_modules"), join(copy, "node_modules"));
});

afterAll(() => {
  if (copy) rmSync(copy, { recursive: true, force: true });
});

/** Deliberate bad imports (each breaking one rule), and one allowed import, added to the copy together. */
const FILES: Record<string, string> = {
  "agent/bad.ts": 'import { startController } from "../controller/server.js";\nexport const x = startController;\n',
  "controller/store/bad.ts": 'import { Dispatcher } from "../runs/dispatcher.js";\nexport const x = Dispatcher;\n',
  "controller/store/ok.ts": 'import { outcomeState } from "../runs/transitions.js";\nexport const x = outcomeState;\n',
  "schemas/bad.ts": 'import type { Run } from "../proto/gen/hodei/v1/control.js";\nexport type X = Run;\n',
  "proto/bad.ts": 'import { loadFile } from "../schemas/load.js";\nexport const x = loadFile;\n',
  "mask/bad.ts": 'import { LogPipe } from "../agent/logpipe.js";\nexport const x = LogPipe;\n',
  "controller/mask-ok.ts": 'import { MaskSet } from "../mask/index.js";\nexport const x = MaskSet;\n',
  "controller/bad.ts": 'import { table } from "../cli/format.js";\nexport const x = table;\n',
  "cli/bad-action.ts": 'import { readSettings } from "../action/src/settings.js";\nexport const x = readSettings;\n',
  "action/src/bad.ts": 'import { startController } from "../../controller/server.js";\nexport const x = startController;\n',
  "action/src/ok.ts": 'import { ControlClient } from "../../cli/client.js";\nexport const x = ControlClient;\n',
  "agent/cycle-a.ts": 'import { b } from "./cycle-b.js";\nexport const a = (): number => b() - 1;\n',
  "agent/cycle-b.ts": 'import { a } from "./cycle-a.js";\nexport const b = (): number => a() + 1;\n',
};

describe("The lint rules fail on a deliberate bad import", () => {
  it("the real tree passes", async () => {
    const r = await lintDeps(ROOT);
    expect(r.output).toMatch(/no dependency violations found/);
    expect(r.code).toBe(0);
  });

  it("a copy of the tree with bad imports fails, each reported under its rule, and only those", async () => {
    for (const [file, source] of Object.entries(FILES)) {
      mkdirSync(dirname(join(copy, file)), { recursive: true });
      writeFileSync(join(copy, file), source);
    }
    const r = await lintDeps(copy);
    expect(r.code).not.toBe(0);
    expect(r.output).toMatch(/agent-not-to-controller: agent\/bad\.ts → controller\/server\.ts/);
    expect(r.output).toMatch(/store-no-use-case: controller\/store\/bad\.ts → controller\/runs\/dispatcher\.ts/);
    expect(r.output).toMatch(/schemas-import-nothing-of-hodei: schemas\/bad\.ts → proto\/gen\/hodei\/v1\/control\.ts/);
    expect(r.output).toMatch(/proto-import-nothing-of-hodei: proto\/bad\.ts → schemas\/load\.ts/);
    expect(r.output).toMatch(/mask-import-nothing-of-hodei: mask\/bad\.ts → agent\/logpipe\.ts/);
    expect(r.output).toMatch(/only-cli-imports-cli: controller\/bad\.ts → cli\/format\.ts/);
    expect(r.output).toMatch(/no-circular: agent\/cycle-[ab]\.ts →/);
    expect(r.output).toMatch(/nothing-imports-the-action: cli\/bad-action\.ts → action\/src\/settings\.ts/);
    expect(r.output).toMatch(/action-not-to-controller-or-agent: action\/src\/bad\.ts → controller\/server\.ts/);
    // The Action may use the CLI's client.
    expect(r.output).not.toMatch(/action\/src\/ok\.ts/);
    // The store may use the pure state machine; nothing else in the copy is wrong.
    expect(r.output).not.toMatch(/controller\/store\/ok\.ts/);
    // Both sides may use the shared masker.
    expect(r.output).not.toMatch(/controller\/mask-ok\.ts/);
    expect(r.output).toMatch(/\b9 dependency violations/);
  });
});
