/**
 * A job's triggers in the short form `hodei jobs ls` shows, e.g.
 * "push(main,release/**) pr(main) schedule(0 4 * * 1) manual".
 */
type Loose = Record<string, unknown> | undefined;

const list = (v: unknown): string[] => (Array.isArray(v) ? v.map((x) => (typeof x === "string" ? x : typeof x === "object" && x && "cron" in x ? String((x as { cron: unknown }).cron) : JSON.stringify(x))) : []);

function filters(t: Loose, keys: string[]): string {
  if (!t || typeof t !== "object") return "";
  const parts: string[] = [];
  for (const k of keys) {
    const v = list(t[k]);
    if (v.length === 0) continue;
    parts.push(k.endsWith("Ignore") ? v.map((p) => `!${p}`).join(",") : v.join(","));
  }
  return parts.join(";");
}

export function shortTriggers(triggers: unknown): string {
  const t = (triggers && typeof triggers === "object" ? triggers : {}) as Record<string, unknown>;
  const out: string[] = [];
  if (t.push !== undefined) out.push(`push(${filters(t.push as Loose, ["branches", "branchesIgnore", "tags", "tagsIgnore"]) || "*"})`);
  if (t.pullRequest !== undefined) out.push(`pr(${filters(t.pullRequest as Loose, ["branches"]) || "*"})`);
  const sched = list(t.schedule);
  if (sched.length) out.push(`schedule(${sched.join(";")})`);
  if (t.manual !== false) out.push("manual");
  return out.join(" ");
}
