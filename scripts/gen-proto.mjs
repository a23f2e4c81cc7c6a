#!/usr/bin/env node
// Regenerates proto/gen from proto/hodei/v1/*.proto with buf (from npm) and ts-proto.
// The output is committed; test/unit/proto-gen.test.ts fails when it is stale.
// Usage: node scripts/gen-proto.mjs [OUT_DIR]   (default proto/gen)
import { execFileSync } from "node:child_process";
import { rmSync, readFileSync, writeFileSync, mkdtempSync } from "node:fs";
import { join, resolve, dirname } from "node:path";
import { tmpdir } from "node:os";
import { fileURLToPath } from "node:url";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const out = resolve(process.argv[2] ?? join(root, "proto/gen"));
const template = readFileSync(join(root, "buf.gen.yaml"), "utf8").replace("out: proto/gen", `out: ${out}`);
const tmp = mkdtempSync(join(tmpdir(), "hodei-gen-"));
const templatePath = join(tmp, "buf.gen.yaml");
writeFileSync(templatePath, template);
rmSync(out, { recursive: true, force: true });
execFileSync(join(root, "node_modules/.bin/buf"), ["generate", "--template", templatePath], { cwd: root, stdio: "inherit" });
rmSync(tmp, { recursive: true, force: true });
