import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

let cached: string | undefined;

/**
 * The hodei package version, sent in Hello. Found by walking up from this file
 * because the module runs both from source (agent/) and from dist/agent/, at
 * different depths below package.json.
 */
export function agentVersion(): string {
  if (cached) return cached;
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5; i++) {
    try {
      const pkg = JSON.parse(readFileSync(join(dir, "package.json"), "utf8")) as { name?: string; version?: string };
      if (pkg.name === "hodei" && pkg.version) return (cached = pkg.version);
    } catch {
      // no package.json here; keep walking up
    }
    dir = dirname(dir);
  }
  return (cached = "0.0.0-unknown");
}
