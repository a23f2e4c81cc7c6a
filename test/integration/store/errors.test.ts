/**
 * isDatabaseUnavailable against the errors pg really raises: a refused
 * connection, a backend terminated under a query (what a PostgreSQL restart
 * does), and ordinary query errors, which must not count as an outage.
 */
import { describe, expect, it } from "vitest";
import pg from "pg";
import { isDatabaseUnavailable } from "../../../controller/store/errors.js";
import { testDatabaseUrl } from "../../helpers/db.js";

const caught = (p: Promise<unknown>): Promise<unknown> =>
  p.then(
    () => new Error("expected a failure"),
    (e: unknown) => e,
  );

describe("isDatabaseUnavailable", () => {
  it("a refused connection (ECONNREFUSED)", async () => {
    const client = new pg.Client({ connectionString: "postgres://postgres@127.0.0.1:1/postgres" });
    client.on("error", () => {});
    const err = await caught(client.connect());
    expect(isDatabaseUnavailable(err)).toBe(true);
  });

  it("a backend terminated mid-session: the 57P01 notice and the codeless 'Connection terminated' that follows", async () => {
    const victim = new pg.Client({ connectionString: testDatabaseUrl() });
    const events: unknown[] = [];
    victim.on("error", (e) => events.push(e));
    await victim.connect();
    const pid = (await victim.query<{ pid: number }>("select pg_backend_pid() as pid")).rows[0]!.pid;
    const admin = new pg.Client({ connectionString: testDatabaseUrl() });
    await admin.connect();
    try {
      const running = caught(victim.query("select pg_sleep(30)"));
      await new Promise((r) => setTimeout(r, 200));
      await admin.query("select pg_terminate_backend($1)", [pid]);
      const err = await running;
      expect(isDatabaseUnavailable(err), String(err)).toBe(true);
      const after = await caught(victim.query("select 1"));
      expect(isDatabaseUnavailable(after), String(after)).toBe(true);
      for (const e of events) expect(isDatabaseUnavailable(e), String(e)).toBe(true);
    } finally {
      await admin.end();
      await victim.end().catch(() => {});
    }
  });

  it("a wrapped outage still counts (pg-pool's connection timeout keeps its cause)", () => {
    const inner = Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:5432"), { code: "ECONNREFUSED" });
    expect(isDatabaseUnavailable(new Error("query failed", { cause: inner }))).toBe(true);
  });

  it("ordinary query errors do not, even when their text mentions a connection", async () => {
    const client = new pg.Client({ connectionString: testDatabaseUrl() });
    await client.connect();
    try {
      const syntax = await caught(client.query("selec 1"));
      expect((syntax as { code?: string }).code).toBe("42601");
      expect(isDatabaseUnavailable(syntax)).toBe(false);
      const raised = await caught(client.query("do $$ begin raise exception 'Connection terminated'; end $$"));
      expect(isDatabaseUnavailable(raised)).toBe(false);
    } finally {
      await client.end();
    }
    expect(isDatabaseUnavailable(new TypeError("Connection terminated"))).toBe(false);
    expect(isDatabaseUnavailable(undefined)).toBe(false);
    expect(isDatabaseUnavailable("ECONNREFUSED")).toBe(false);
  });
});
