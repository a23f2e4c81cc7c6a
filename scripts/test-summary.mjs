#!/usr/bin/env node
// Prints vitest's JSON report as one plain closing line, "N passed, N failed[, N skipped]",
// which CI reads (vitest's own summary is not a format it knows). Exits 1 when no test ran.
import { readFileSync } from "node:fs";

const file = process.argv[2];
const r = JSON.parse(readFileSync(file, "utf8"));
const skipped = (r.numPendingTests ?? 0) + (r.numTodoTests ?? 0);
console.log(`${r.numPassedTests} passed, ${r.numFailedTests} failed${skipped ? `, ${skipped} skipped` : ""}`);
if (r.numTotalTests === 0) process.exit(1);
