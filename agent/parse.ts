// Parsers for the agent's flag values. Each throws ConfigError naming the flag.
import { ConfigError } from "./errors.js";
import { KILL_METHOD_CHOICES, type KillMethodChoice } from "./tree.js";

const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** "10m", "1h30m", "500ms", "45" (seconds) or "0" → milliseconds. */
export function parseDuration(option: string, text: string): number {
  const s = text.trim();
  if (/^\d+$/.test(s)) return Number(s) * 1000;
  const re = /(\d+(?:\.\d+)?)(ms|s|m|h|d)/gy;
  let total = 0;
  let matched = 0;
  for (let m = re.exec(s); m; m = re.exec(s)) {
    total += Number(m[1]) * (DURATION_UNITS[m[2] ?? ""] ?? 0);
    matched = re.lastIndex;
  }
  if (s === "" || matched !== s.length) {
    throw new ConfigError(option, `"${text}" is not a duration; use e.g. 30s, 10m, 1h30m or 0`);
  }
  return Math.round(total);
}

const SIZE_UNITS: Record<string, number> = { "": 1, b: 1, k: 1024, kb: 1024, kib: 1024, m: 1 << 20, mb: 1 << 20, mib: 1 << 20, g: 1 << 30, gb: 1 << 30, gib: 1 << 30 };

/** "32MiB", "512k", "1048576" → bytes (binary units: memory, not disks). */
export function parseSize(option: string, text: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$/i.exec(text);
  const unit = SIZE_UNITS[(m?.[2] ?? "?").toLowerCase()];
  if (!m || unit === undefined) throw new ConfigError(option, `"${text}" is not a size; use e.g. 32MiB, 512KiB or a byte count`);
  return Math.round(Number(m[1]) * unit);
}

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

/** "host:port" or "[v6]:port"; gRPC needs the port spelled out. */
export function checkAddress(option: string, address: string): string {
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
