import { defineConfig } from "vitest/config";

// Two cores: run test files in a couple of forks; e2e files spawn real processes.
export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    pool: "forks",
    maxWorkers: 2,
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // Once per run: a migrated template database that each test file copies (test/helpers/db.ts).
    globalSetup: ["test/helpers/global-setup.ts"],
  },
});
