import { spawn } from "node:child_process";

/** The machine's limit for any runner that spawns a process per job: spawn('true') with piped output. */
export async function spawnRate(n: number, concurrency: number): Promise<number> {
  let started = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (started < n) {
        started++;
        await new Promise<void>((resolve, reject) => {
          const p = spawn("true", [], { stdio: ["ignore", "pipe", "pipe"] });
          p.stdout.resume();
          p.stderr.resume();
          p.on("error", reject);
          p.on("close", () => resolve());
        });
      }
    }),
  );
  return n / ((performance.now() - t0) / 1000);
}
