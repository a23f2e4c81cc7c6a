/** Fitting text into columns. */

/** `s` cut (with "…") or padded with spaces to exactly `n` characters. */
export function fit(s: string, n: number): string {
  if (n <= 0) return "";
  const chars = [...s];
  if (chars.length > n) return n === 1 ? "…" : chars.slice(0, n - 1).join("") + "…";
  return s + " ".repeat(n - chars.length);
}

/** Right-aligned. */
export function fitRight(s: string, n: number): string {
  const chars = [...s];
  if (chars.length >= n) return fit(s, n);
  return " ".repeat(n - chars.length) + s;
}

/** 1.5 GiB, 300 MiB. */
export function bytes(n: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  let v = n;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v >= 10 || i === 0 ? Math.round(v) : v.toFixed(1)}${units[i]}`;
}

/** "3s ago", "2m ago". */
export function ago(ms: number, now: number): string {
  if (!ms) return "never";
  const s = Math.max(0, Math.round((now - ms) / 1000));
  if (s < 60) return `${s}s ago`;
  if (s < 3600) return `${Math.floor(s / 60)}m ago`;
  return `${Math.floor(s / 3600)}h ago`;
}
