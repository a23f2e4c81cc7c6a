// Parsers for the agent's flag values. Each throws ConfigError naming the flag.
// Durations and sizes are not here: every flag parses them with the one
// grammar of schemas/durations.ts (cli/flags.ts).
import { ConfigError } from "./errors.js";
import { KILL_METHOD_CHOICES, type KillMethodChoice } from "./tree.js";

// Same shape as Kubernetes label keys and values, so selectors written for one
// read the same in the other.
const LABEL_KEY = /^([a-z0-9]([-a-z0-9.]*[a-z0-9])?\/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;
const LABEL_VALUE = /^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$/;

/** "os=linux,arch=amd64" → { os: "linux", arch: "amd64" }. */
export function parseLabels(option: string, text: string): Record<string, string> {
  const labels: Record<string, string> = {};
  for (const part of text.split(",").map((p) => p.trim()).filter(Boolean)) {
    const eq = part.indexOf("=");
    if (eq <= 0) throw new ConfigError(option, `"${part}" is not key=value`);
    const key = part.slice(0, eq).trim();
    const value = part.slice(eq + 1).trim();
    checkLabel(option, key, value);
    labels[key] = value;
  }
  return labels;
}

export function checkLabel(option: string, key: string, value: string): void {
  if (key.length > 253 || !LABEL_KEY.test(key)) {
    throw new ConfigError(option, `label key "${key}" must be letters, digits, '-', '_', '.' (optionally prefix/)`);
  }
  if (value.length > 63 || !LABEL_VALUE.test(value)) {
    throw new ConfigError(option, `label value "${value}" must be up to 63 letters, digits, '-', '_', '.'`);
  }
}

/** "host:port" or "[v6]:port"; gRPC needs the port spelled out. Or "unix:/absolute/path" (the embedded daemon's socket). */
export function checkAddress(option: string, address: string): string {
  if (/^unix:\/\S+$/.test(address.trim())) return address.trim();
  const m = /^(\[[0-9a-fA-F:.]+\]|[^\s:/[\]]+):(\d{1,5})$/.exec(address.trim());
  const port = Number(m?.[2]);
  if (!m || port < 1 || port > 65535) {
    throw new ConfigError(option, `"${address}" is not HOST:PORT (e.g. controller.example.com:7070)`);
  }
  return address.trim();
}

/** "auto", "cgroup", "cgroup-v2", "cgroup-v1" or "process-group". */
export function parseKillMethod(option: string, text: string): KillMethodChoice {
  const choice = KILL_METHOD_CHOICES.find((c) => c === text.trim().toLowerCase());
  if (!choice) throw new ConfigError(option, `"${text}" is not a kill method; use ${KILL_METHOD_CHOICES.join(", ")}`);
  return choice;
}
