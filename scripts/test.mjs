#!/usr/bin/env node
// The test suite in two phases: everything but test/chaos with two workers,
// then test/chaos one file at a time (those tests kill, stop and cut real
// controllers, agents and PostgreSQL servers, and time heartbeats, so they do
// not share the two cores with other files). Ends with one plain line,
// "N passed, N failed[, N skipped]", and exits non-zero if anything failed
// or no test ran. Extra arguments go to both vitest runs.
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, existsSync } from "node:fs";
import { join } from "node:path";
import { tmpdir } from "node:os";

const extra = process.argv.slice(2);
const dir = mkdtempSync(join(tmpdir(), "hodei-vitest-"));
const vitest = join(import.meta.dirname, "../node_modules/vitest/vitest.mjs");
const phases = [
  ["run", "--exclude", "test/chaos/**"],
  ["run", "test/chaos", "--maxWorkers=1"],
];
let failedPhase = false;
const totals = { passed: 0, failed: 0, skipped: 0, total: 0 };
phases.forEach((args, i) => {
  const report = join(dir, `report-${i}.json`);
  const r = spawnSync(process.execPath, [vitest, ...args, "--reporter=default", "--reporter=json", `--outputFile.json=${report}`, ...extra], { stdio: "inherit" });
  if (r.status !== 0) failedPhase = true;
  if (!existsSync(report)) return;
  const j = JSON.parse(readFileSync(report, "utf8"));
  totals.passed += j.numPassedTests;
  totals.failed += j.numFailedTests;
  totals.skipped += (j.numPendingTests ?? 0) + (j.numTodoTests ?? 0);
  totals.total += j.numTotalTests;
});
console.log(`${totals.passed} passed, ${totals.failed} failed${totals.skipped ? `, ${totals.skipped} skipped` : ""}`);
process.exit(failedPhase || totals.failed > 0 || totals.total === 0 ? 1 : 0);
