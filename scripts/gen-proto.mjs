#!/usr/bin/env node
// Regenerates proto/gen from proto/hodei/v1/*.proto with buf (from npm) and ts-proto.
// buf is not a devDependency: the registry this project is built against serves
// only its Linux builds, and a lock file naming the others can never pass
// `npm ci`. So the pinned version is installed on first use into a cache folder
// (node_modules/.cache/hodei-buf), from the npm registry like everything else.
// The output is committed; test/unit/proto-gen.test.ts fails when it is stale.
// Usage: node scripts/gen-proto.mjs [OUT_DIR]   (default proto/gen)
import { execFileSync } from "node:child_process";
import { rmSync, readFileSync, writeFileSync, mkdtempSync, existsSync } from "node:fs";
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
const BUF_VERSION = "1.75.0";
const toolDir = join(root, "node_modules/.cache/hodei-buf");
const buf = join(toolDir, "node_modules/.bin/buf");
const pinned = () => {
  try {
    return JSON.parse(readFileSync(join(toolDir, "node_modules/@bufbuild/buf/package.json"), "utf8")).version === BUF_VERSION;
  } catch {
    return false;
  }
};
if (!existsSync(buf) || !pinned()) {
  const npm = process.platform === "win32" ? "npm.cmd" : "npm";
  execFileSync(npm, ["install", "--prefix", toolDir, "--no-save", "--no-package-lock", "--no-audit", "--no-fund", "--loglevel=error", `@bufbuild/buf@${BUF_VERSION}`], { stdio: ["ignore", "ignore", "inherit"] });
}
execFileSync(buf, ["generate", "--template", templatePath], { cwd: root, stdio: "inherit" });
rmSync(tmp, { recursive: true, force: true });
