/**
 * `hodei secrets` against real controllers: a value goes in once and never
 * comes back out — not in any command's output, not in the controller's log,
 * not in any column of the database — and a rotation reseals every value
 * under a new key that still opens them.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { chmodSync, existsSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { createHash, randomBytes } from "node:crypto";
import pg from "pg";
import { hodei, hodeiJson, startController, tempDir, type ControllerProc, type Result } from "../helpers/procs.js";
import { createTestDatabase, type TestDatabase } from "../helpers/db.js";
import { Keyring } from "../../controller/secrets/keyring.js";
import { MasterKey } from "../../controller/secrets/seal.js";

/** `hodei ARGS` with `input` on stdin. */
const withStdin = (args: string[], input: Buffer, env: NodeJS.ProcessEnv = {}): Promise<Result> => hodei(args, { input, env });

// Distinct, greppable values: one plain, one multi-line, one binary-ish.
const PLAIN = `plain-${randomBytes(12).toString("hex")}`;
const MULTI = `-----BEGIN KEY-----\n${randomBytes(24).toString("base64")}\n-----END KEY-----\n`;

let db: TestDatabase;
let controller: ControllerProc;
let keyFile: string;
let ctl: string[];

beforeAll(async () => {
  db = await createTestDatabase();
  keyFile = join(tempDir("hodei-secrets-key-"), "master.key");
  writeFileSync(keyFile, `${MasterKey.generate().encoded()}\n`, { mode: 0o600 });
  chmodSync(keyFile, 0o600);
  controller = await startController({ databaseUrl: db.url }, ["--master-key-file", keyFile]);
  ctl = ["--controller", controller.address];
}, 120_000);

afterAll(async () => {
  await controller?.stop();
  await db?.drop();
});

/** Every text, json and bytea value of every table, as one string per cell (bytea as its raw bytes, latin1). */
async function everyCell(): Promise<string[]> {
  const c = new pg.Client({ connectionString: db.url });
  await c.connect();
  try {
    const cols = await c.query<{ table_name: string; column_name: string; data_type: string }>(
      `select table_name, column_name, data_type from information_schema.columns
        where table_schema = 'public' and data_type in ('text', 'character varying', 'json', 'jsonb', 'bytea', 'ARRAY')`,
    );
    const cells: string[] = [];
    for (const col of cols.rows) {
      const r = await c.query({ text: `select "${col.column_name}"::text as t, "${col.column_name}" as v from "${col.table_name}"`, rowMode: "array" });
      for (const [t, v] of r.rows as [string | null, unknown][]) {
        if (t !== null) cells.push(t);
        if (Buffer.isBuffer(v)) cells.push(v.toString("latin1"));
      }
    }
    return cells;
  } finally {
    await c.end();
  }
}

describe("hodei secrets against a controller on PostgreSQL", () => {
  it("sets from stdin and from a file; ls shows names, projects and who, never a value", async () => {
    let r = await withStdin(["secrets", "set", "NPM_TOKEN", "--from-stdin", ...ctl], Buffer.from(PLAIN));
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.toString()).toBe("created secret NPM_TOKEN for every project\n");
    const file = join(tempDir("hodei-secret-file-"), "key.pem");
    writeFileSync(file, MULTI);
    r = await hodei(["secrets", "set", "DEPLOY_KEY", "--project", "web", "--from-file", file, ...ctl]);
    expect(r.code, r.stderr).toBe(0);
    r = await withStdin(["secrets", "set", "NPM_TOKEN", "--from-stdin", ...ctl], Buffer.from(`${PLAIN}-v2`));
    expect(r.stdout.toString()).toBe("replaced secret NPM_TOKEN for every project\n");

    const ls = await hodei(["secrets", "ls", ...ctl]);
    expect(ls.stdout.toString()).toMatch(/NPM_TOKEN\s+\(all\)/);
    expect(ls.stdout.toString()).toMatch(/DEPLOY_KEY\s+web/);
    const json = await hodeiJson<{ secrets: Record<string, unknown>[] }>(["secrets", "ls", ...ctl]);
    expect(json.secrets.map((s) => [s.name, s.project])).toEqual([
      ["NPM_TOKEN", null],
      ["DEPLOY_KEY", "web"],
    ]);
    expect(await hodeiJson<{ secrets: unknown[] }>(["secrets", "ls", "--project", "web", ...ctl])).toMatchObject({ secrets: [{ name: "DEPLOY_KEY" }] });
    for (const out of [ls.stdout.toString(), JSON.stringify(json)]) {
      expect(out).not.toContain(PLAIN);
      expect(out).not.toContain(MULTI.split("\n")[1]);
    }
  });

  it("refuses bad names, projects, empty and oversized values, and a value on the command line, with clear errors", async () => {
    const cases: [string[], Buffer, RegExp][] = [
      [["secrets", "set", "9LIVES", "--from-stdin"], Buffer.from("x"), /secret name "9LIVES" is not valid/],
      [["secrets", "set", "A-B", "--from-stdin"], Buffer.from("x"), /not valid: use letters, digits and _/],
      [["secrets", "set", "OK", "--project", "Bad Project", "--from-stdin"], Buffer.from("x"), /project "Bad Project" is not valid/],
      [["secrets", "set", "OK", "--from-stdin"], Buffer.alloc(0), /the value is empty/],
      [["secrets", "set", "OK", "--from-stdin"], Buffer.alloc(64 * 1024 + 10, 0x41), /over 64 KiB/],
      [["secrets", "set", "OK", "--from-file", "/nonexistent/x"], Buffer.alloc(0), /cannot read \/nonexistent\/x: no such file/],
      [["secrets", "set", "OK", "value-on-the-command-line"], Buffer.from("x"), /Unexpected argument|unexpected/i],
    ];
    for (const [args, input, message] of cases) {
      const r = await withStdin([...args, ...ctl], input);
      expect(r.code, `${args.join(" ")}: ${r.stderr}`).not.toBe(0);
      expect(r.stderr).toMatch(message);
    }
    expect((await hodeiJson<{ secrets: unknown[] }>(["secrets", "ls", ...ctl])).secrets).toHaveLength(2);
    const rm = await hodei(["secrets", "rm", "NOPE", ...ctl]);
    expect(rm.code).toBe(4);
    expect(rm.stderr).toMatch(/secret NOPE not found/);
  });

  it("rotate-key makes a new key in the controller's key file and reseals every value; the old key is forgotten", async () => {
    const before = new Keyring({ file: keyFile }).current();
    const r = await hodeiJson<{ keyId: string; resealed: number; newKey: boolean }>(["secrets", "rotate-key", ...ctl]);
    expect(r).toMatchObject({ resealed: 2, newKey: true });
    const ring = new Keyring({ file: keyFile });
    expect(ring.current().id).toBe(r.keyId);
    expect(r.keyId).not.toBe(before.id);
    expect(ring.byId(before.id)).toBeUndefined();
    expect(statSync(keyFile).mode & 0o777).toBe(0o600);
    // The values still open, with the new key only.
    const c = new pg.Client({ connectionString: db.url });
    await c.connect();
    const rows = (await c.query<{ name: string; project: string; key_id: string; nonce: Buffer; sealed: Buffer }>("select * from secrets order by name")).rows;
    await c.end();
    const opened = rows.map((row) => [row.name, ring.current().open({ keyId: row.key_id, nonce: row.nonce, sealed: row.sealed }, row.project, row.name).toString()]);
    expect(opened).toEqual([
      ["DEPLOY_KEY", MULTI],
      ["NPM_TOKEN", `${PLAIN}-v2`],
    ]);
  });

  it("no value is in any text, json or bytea column of the database, nor in the controller's log", async () => {
    const cells = await everyCell();
    expect(cells.length).toBeGreaterThan(0);
    const needles = [PLAIN, ...MULTI.split("\n").filter((l) => l.length > 20)];
    for (const n of needles) {
      expect(cells.filter((c) => c.includes(n))).toEqual([]);
      expect(readFileSync(controller.logFile, "utf8")).not.toContain(n);
    }
    expect(readFileSync(controller.logFile, "utf8")).toContain('"secret":"NPM_TOKEN"');
  });
});

describe("hodei secrets on a controller without a master key", () => {
  it("says how to give one, and stores nothing", async () => {
    const bare = await startController({ dataDir: join(tempDir("hodei-nokey-"), "db") });
    try {
      const r = await withStdin(["secrets", "set", "X", "--from-stdin", "--controller", bare.address], Buffer.from("value"));
      expect(r.code).not.toBe(0);
      expect(r.stderr).toMatch(/no master key for secrets: set HODEI_MASTER_KEY .* or start it with --master-key-file/);
      expect((await hodeiJson<{ secrets: unknown[] }>(["secrets", "ls", "--controller", bare.address])).secrets).toEqual([]);
    } finally {
      await bare.stop();
    }
  }, 120_000);
});

describe("hodei secrets on the embedded default", () => {
  it("makes its master key file, mode 0600, in the data dir on first use", async () => {
    const dir = join(tempDir("hodei-secrets-embedded-"), "data");
    const env = { HODEI_DATA_DIR: dir };
    try {
      const r = await withStdin(["secrets", "set", "TOKEN", "--from-stdin"], Buffer.from(PLAIN), env);
      expect(r.code, r.stderr).toBe(0);
      expect(statSync(join(dir, "master.key")).mode & 0o777).toBe(0o600);
      expect(readFileSync(join(dir, "master.key"), "utf8")).not.toContain(PLAIN);
      expect((await hodei(["secrets", "ls"], { env })).stdout.toString()).toMatch(/TOKEN\s+\(all\)/);
    } finally {
      await hodei(["embedded", "stop"], { env });
    }
  }, 120_000);
});

describe("a job's secrets (spec.secrets) on the embedded default", () => {
  it("are 0600 files in $HODEI_SECRETS_DIR, outside the workspace, an env variable when asked, and gone when the run ends", async () => {
    const dir = join(tempDir("hodei-secrets-inject-"), "data");
    const env = { HODEI_DATA_DIR: dir };
    const jobs = tempDir("hodei-secrets-jobs-");
    try {
      expect((await withStdin(["secrets", "set", "API_TOKEN", "--from-stdin"], Buffer.from(PLAIN), env)).code).toBe(0);
      expect((await withStdin(["secrets", "set", "DEPLOY_KEY", "--from-stdin"], Buffer.from(MULTI), env)).code).toBe(0);
      const file = join(jobs, "uses-secrets.yaml");
      // The job reports digests and metadata, and prints one value raw and base64'd to see it masked.
      writeFileSync(
        file,
        [
          "apiVersion: hodei.dev/v1",
          "kind: Job",
          "metadata: { name: uses-secrets }",
          "spec:",
          "  secrets: [API_TOKEN, { name: DEPLOY_KEY, env: KEY_ENV }]",
          "  run: |",
          '    echo "dir=$HODEI_SECRETS_DIR"',
          '    case "$HODEI_SECRETS_DIR" in "$HODEI_WORKSPACE"*) echo inside-workspace;; esac',
          '    echo "dirmode=$(stat -c %a "$HODEI_SECRETS_DIR")"',
          '    echo "filemode=$(stat -c %a "$HODEI_SECRETS_DIR/API_TOKEN")"',
          '    echo "api=$(sha256sum < "$HODEI_SECRETS_DIR/API_TOKEN" | cut -c1-64)"',
          '    echo "key=$(sha256sum < "$HODEI_SECRETS_DIR/DEPLOY_KEY" | cut -c1-64)"',
          '    echo "keyenv=$(printf %s "$KEY_ENV" | sha256sum | cut -c1-64)"',
          '    echo "apienv=${API_TOKEN:-unset}"',
          // Printed raw and base64'd: the masker (mask/) turns both into ***.
          '    echo "raw=$(cat "$HODEI_SECRETS_DIR/API_TOKEN")"',
          '    echo "b64=$(base64 -w0 < "$HODEI_SECRETS_DIR/API_TOKEN")"',
          "",
        ].join("\n"),
      );
      const r = await hodei(["run", "--no-source", file], { env });
      expect(r.code, r.stderr).toBe(0);
      const out = Object.fromEntries(
        r.stdout
          .toString()
          .trim()
          .split("\n")
          .map((l) => l.split("=") as [string, string]),
      );
      const sha = (s: string): string => createHash("sha256").update(s).digest("hex");
      expect(out).toMatchObject({ dirmode: "700", filemode: "600", api: sha(PLAIN), key: sha(MULTI), keyenv: sha(MULTI), apienv: "unset", raw: "***", b64: "***" });
      expect(r.stdout.toString()).not.toContain(PLAIN);
      const logs = await hodei(["logs", r.stderr.match(/run (\d+)/)?.[1] ?? "1"], { env });
      expect(logs.stdout.toString()).toContain("raw=***");
      expect(logs.stdout.toString()).not.toContain(PLAIN);
      expect(r.stdout.toString()).not.toContain("inside-workspace");
      expect(existsSync(out.dir!)).toBe(false);
    } finally {
      await hodei(["embedded", "stop"], { env });
    }
  }, 180_000);
});
