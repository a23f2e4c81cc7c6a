/**
 * The SQL of API tokens and the audit log on both dialects: the audit log is
 * append-only (its trigger refuses UPDATE and DELETE, whatever the WHERE),
 * tokens are found by hash, revoked once, and the bootstrap's "is there a live
 * admin" question sees revocation and expiry.
 */
import { sql } from "kysely";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { appendAudit, listAudit } from "../../../../controller/store/audit.js";
import { hasLiveAdmin, insertToken, listTokens, revokeToken, tokenByHash, touchToken } from "../../../../controller/store/tokens.js";
import { DIALECTS, createTestStore, type TestStore } from "../../../helpers/db.js";

describe.each(DIALECTS)("%s", (dialect) => {
  let store: TestStore;
  beforeAll(async () => {
    store = await createTestStore(dialect);
  });
  afterAll(() => store?.dispose());

  it("the audit log takes inserts and refuses UPDATE and DELETE", async () => {
    await appendAudit(store.db, { actor: "alice", action: "run.submit", target: "run 1", outcome: "allowed", detail: { project: "web" }, source: "127.0.0.1" });
    await appendAudit(store.db, { actor: "mallory", action: "auth", outcome: "denied" });
    const rows = await listAudit(store.db, { limit: 10 });
    expect(rows.map((r) => [r.actor, r.action, r.outcome])).toEqual([
      ["mallory", "auth", "denied"],
      ["alice", "run.submit", "allowed"],
    ]);
    expect(rows[1]!.detail).toEqual({ project: "web" });
    await expect(sql`update audit_log set actor = 'someone else'`.execute(store.db)).rejects.toThrow(/append-only: UPDATE/);
    await expect(sql`delete from audit_log where actor = 'mallory'`.execute(store.db)).rejects.toThrow(/append-only: DELETE/);
    await expect(store.db.deleteFrom("audit_log").execute()).rejects.toThrow(/append-only/);
    const after = await listAudit(store.db, { limit: 10 });
    expect(after.map((r) => r.actor)).toEqual(["mallory", "alice"]);
  });

  it("filters the audit log by actor, action and time", async () => {
    await appendAudit(store.db, { actor: "bob", action: "token.create", target: "ci", outcome: "allowed" });
    expect((await listAudit(store.db, { limit: 10, actor: "bob" })).map((r) => r.action)).toEqual(["token.create"]);
    expect((await listAudit(store.db, { limit: 10, action: "auth" })).map((r) => r.actor)).toEqual(["mallory"]);
    expect(await listAudit(store.db, { limit: 10, since: new Date(Date.now() + 3_600_000) })).toEqual([]);
  });

  it("finds tokens by hash, revokes once by id or name, and knows when a live admin exists", async () => {
    expect(await hasLiveAdmin(store.db)).toBe(false);
    const a = await insertToken(store.db, { name: "root", role: "admin", projects: [], tokenHash: "h1", prefix: "hodei_ab", createdBy: "bootstrap" });
    expect(a).toBeDefined();
    expect(await insertToken(store.db, { name: "root", role: "viewer", projects: [], tokenHash: "h2", prefix: "hodei_cd", createdBy: "x" })).toBeUndefined();
    const v = await insertToken(store.db, { name: "ci", role: "submitter", projects: ["web", "api"], tokenHash: "h3", prefix: "hodei_ef", createdBy: "root" });
    expect((await tokenByHash(store.db, "h3"))?.projects).toEqual(["web", "api"]);
    expect(await tokenByHash(store.db, "nope")).toBeUndefined();
    expect(await hasLiveAdmin(store.db)).toBe(true);
    await touchToken(store.db, v!.id);
    expect((await tokenByHash(store.db, "h3"))?.last_used_at).toBeInstanceOf(Date);
    const r1 = await revokeToken(store.db, "root");
    expect(r1?.revoked_at).toBeInstanceOf(Date);
    const r2 = await revokeToken(store.db, a!.id);
    expect(r2?.revoked_at?.getTime()).toBe(r1?.revoked_at?.getTime()); // the first revocation stands
    expect(await revokeToken(store.db, "nobody")).toBeUndefined();
    expect(await hasLiveAdmin(store.db)).toBe(false);
    await insertToken(store.db, { name: "old", role: "admin", projects: [], tokenHash: "h4", prefix: "hodei_gh", createdBy: "x", expiresAt: new Date(Date.now() - 1000) });
    expect(await hasLiveAdmin(store.db)).toBe(false);
    expect((await listTokens(store.db)).map((t) => t.name)).toEqual(["root", "ci", "old"]);
  });

  it("runs and repos get a project (default 'default') and runs a submitter", async () => {
    const cols = await sql<{ table_name: string; column_name: string; column_default: string | null }>`
      select table_name, column_name, column_default from information_schema.columns
      where column_name in ('project', 'submitted_by') and table_name in ('runs', 'repos') order by table_name, column_name`.execute(store.db);
    expect(cols.rows.map((c) => `${c.table_name}.${c.column_name}`)).toEqual(["repos.project", "runs.project", "runs.submitted_by"]);
    expect(cols.rows[0]!.column_default).toContain("default");
  });
});
