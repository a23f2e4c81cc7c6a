/**
 * Masking as a user sees it (issue 9, item 5), with the embedded default: the
 * built `hodei run` of a job that registers values with `::add-mask::` and
 * then prints them raw, in two halves with a pause between, line by line,
 * base64 at three alignments in both alphabets, URL-encoded, JSON-escaped,
 * and on stderr. None of it appears in the live output, in `hodei logs`,
 * in `hodei logs --json`, or in the stored chunks (read from the PGlite
 * database once the daemon has stopped); the mask does.
 */
import { afterAll, describe, expect, it } from "vitest";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { PGlite } from "@electric-sql/pglite";
import { hodei, tempDir } from "../helpers/procs.js";

const V = "Hodei-e2e-Secret/Value+42=x?&";
const LINES = ["multi-line-one", "multi-line-two", "multi-line-three"];
const dataDir = tempDir("hodei-mask-");
const env = { HODEI_DATA_DIR: dataDir };

afterAll(async () => {
  await hodei(["embedded", "stop"], { env });
});

/** Base64 of `prefix + V` in the given alphabet, padded or not: V ends the data. */
function b64(prefix: string, url: boolean, padded: boolean): string {
  const s = Buffer.from(prefix + V).toString("base64");
  const a = url ? s.replace(/\+/g, "-").replace(/\//g, "_") : s;
  return padded ? a : a.replace(/=+$/, "");
}
const PREFIXES = ["", "a", "ab"];
const VARIANTS = PREFIXES.flatMap((p) => [b64(p, false, true), b64(p, true, false), b64(p, false, false)].map((enc) => ({ p, enc })));
const URL_FORM = encodeURIComponent(V);
const JSON_FORM = JSON.stringify({ v: V });

const sh = (s: string): string => `'${s.replace(/'/g, "'\\''")}'`;
const SCRIPT = [
  `V=${sh(V)}`,
  `echo "::add-mask::$V"`,
  `echo ${sh(`::add-mask::${LINES.join("%0A")}`)}`,
  `echo "raw: $V"`,
  // Two halves, flushed (printf is unbuffered) with a pause between.
  `printf 'halves: %s' "\${V:0:12}"; sleep 0.2; printf '%s\\n' "\${V:12}"`,
  `printf '%s\\n' ${LINES.map(sh).join(" ")} | while IFS= read -r l; do echo "line: $l"; done`,
  // base64 by coreutils at the three alignments: standard padded, URL unpadded, standard unpadded.
  `for p in '' a ab; do e=$(printf '%s%s' "$p" "$V" | base64 -w0); echo "b64: $e"; echo "b64: $(printf '%s' "$e" | tr '+/' '-_' | tr -d '=')"; echo "b64: $(printf '%s' "$e" | tr -d '=')"; done`,
  `echo "url: $(jq -rn --arg v "$V" '$v|@uri')"`,
  `echo "json: $(jq -cn --arg v "$V" '{v:$v}')"`,
  `echo "err: $V" >&2`,
].join("\n");

/** First base64 character of V's own bits after 0, 1, 2 bytes of prefix. */
const FIRST = [0, 2, 3];
const EXPECTED_STDOUT = [
  "::add-mask::***",
  "::add-mask::***",
  "raw: ***",
  "halves: ***",
  ...LINES.map(() => "line: ***"),
  ...VARIANTS.map(({ p }) => `b64: ${Buffer.from(p + V).toString("base64").slice(0, FIRST[p.length])}***`),
  "url: ***",
  'json: {"v":"***"}',
  "",
].join("\n");

/** Every form of the values that must not be seen anywhere. */
const FORBIDDEN = [V, ...LINES, V.slice(0, 12), V.slice(12), URL_FORM, JSON_FORM.slice(6, -2), ...VARIANTS.map(({ p, enc }) => enc.slice(FIRST[p.length], FIRST[p.length]! + 8))];

function expectClean(text: string, where: string): void {
  for (const f of FORBIDDEN) expect(text, `${where} shows ${JSON.stringify(f)}`).not.toContain(f);
}

describe("masking, end to end (embedded default)", () => {
  let runId = "";

  it("the live output of hodei run shows the mask and no form of the values", async () => {
    const file = join(dataDir, "mask.yaml");
    writeFileSync(file, `apiVersion: hodei.dev/v1\nkind: Job\nmetadata: { name: mask }\nspec:\n  timeout: 2m\n  run: ${JSON.stringify(SCRIPT)}\n`);
    const r = await hodei(["run", file], { env });
    expect(r.code, r.stderr).toBe(0);
    runId = /hodei: run (\d+)/.exec(r.stderr)![1]!;
    // jq's @uri: the same escapes as encodeURIComponent for this value? It must at least be a form the masker knows.
    expect(r.stdout.toString()).toBe(EXPECTED_STDOUT);
    expect(r.stderr).toContain("err: ***\n");
    expectClean(r.stdout.toString(), "hodei run's stdout");
    expectClean(r.stderr, "hodei run's stderr");
  });

  it("hodei logs and hodei logs --json show the same, and no form of the values", async () => {
    const plain = await hodei(["logs", runId], { env });
    expect(plain.code).toBe(0);
    expect(plain.stdout.toString()).toBe(EXPECTED_STDOUT);
    expectClean(plain.stdout.toString() + plain.stderr, "hodei logs");
    const json = await hodei(["logs", runId, "--json"], { env });
    expect(json.code).toBe(0);
    const parsed = JSON.parse(json.stdout.toString()) as { chunks: { stream: number; data: string }[] };
    const decoded = parsed.chunks.map((c) => Buffer.from(c.data, "base64").toString()).join("");
    expect(decoded).toContain("raw: ***\n");
    expect(decoded).toContain("err: ***\n");
    expectClean(decoded, "hodei logs --json (decoded)");
    expectClean(json.stdout.toString(), "hodei logs --json");
  });

  it("the stored chunks hold no form of the values", async () => {
    expect((await hodei(["embedded", "stop"], { env })).code).toBe(0);
    const db = new PGlite(join(dataDir, "db"));
    try {
      const rows = await db.query<{ data: Uint8Array }>("select data from log_chunks where run_id = $1 order by attempt, seq", [runId]);
      expect(rows.rows.length).toBeGreaterThan(0);
      const stored = Buffer.concat(rows.rows.map((r) => Buffer.from(r.data))).toString();
      expect(stored).toContain("halves: ***\n");
      expectClean(stored, "the stored log");
    } finally {
      await db.close();
    }
  });
});
