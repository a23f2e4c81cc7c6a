/** insertRun (idempotency), getRun and listRuns, on both dialects. */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { upsertAgent } from "../../../../controller/store/agents.js";
import { claimRuns, getRun, insertRun, listRuns } from "../../../../controller/store/runs.js";
import { DIALECTS, createTestStore, type TestStore } from "../../../helpers/db.js";
import { countRows, rawRun, reset, submit } from "./fixtures.js";

describe.each(DIALECTS)("runs: insert and read (%s)", (dialect) => {
  let store: TestStore;
  beforeAll(async () => {
    store = await createTestStore(dialect);
  });
  afterAll(() => store?.dispose());
  beforeEach(() => reset(store.db));

  describe("insertRun", () => {
    it("stores every field and the defaults of a queued run", async () => {
      const before = Date.now();
      const job = { name: "build", run: "make", env: { A: "1" }, nested: [1, "two", null, { ok: true }] };
      const { run, created } = await insertRun(store, {
        jobName: "build",
        job,
        selector: { pool: "a", os: "linux" },
        priority: 7,
        source: "cli:alice",
        idempotencyKey: "k-1",
      });
      expect(created).toBe(true);
      // Columns added by later migrations are not this test's business; the stored row is compared whole below.
      expect(run).toMatchObject({
        id: "1",
        job_name: "build",
        state: "queued",
        attempt: 1,
        priority: 7,
        job,
        selector: { pool: "a", os: "linux" },
        source: "cli:alice",
        idempotency_key: "k-1",
        agent_id: null,
        exit_code: null,
        signal: null,
        reason: null,
        message: "",
        log_chunks: "0",
        cancel_requested: false,
        created_at: expect.any(Date),
        assigned_at: null,
        started_at: null,
        finished_at: null,
      });
      // Generous bounds: the database clock and ours are the same machine's, but round differently.
      expect(run.created_at.getTime()).toBeGreaterThanOrEqual(before - 1000);
      expect(run.created_at.getTime()).toBeLessThanOrEqual(Date.now() + 1000);
      // What was returned is what is stored.
      expect(await rawRun(store.db, run.id)).toEqual(run);
    });

    it("returns the first run, not a new one, for a reused idempotency key", async () => {
      const first = await insertRun(store, { jobName: "build", job: { v: 1 }, selector: {}, priority: 0, source: "a", idempotencyKey: "same" });
      const second = await insertRun(store, { jobName: "other", job: { v: 2 }, selector: { pool: "x" }, priority: 9, source: "b", idempotencyKey: "same" });
      expect(first.created).toBe(true);
      expect(second.created).toBe(false);
      expect(second.run.id).toBe(first.run.id);
      // The second submission changed nothing: the first run is returned as stored.
      expect(second.run).toEqual(first.run);
      expect(second.run.job).toEqual({ v: 1 });
      expect(await countRows(store.db, "runs")).toBe(1);
    });

    it("creates separate runs for different keys and for runs without a key", async () => {
      const a = await insertRun(store, { jobName: "j", job: {}, selector: {}, priority: 0, source: "", idempotencyKey: "a" });
      const b = await insertRun(store, { jobName: "j", job: {}, selector: {}, priority: 0, source: "", idempotencyKey: "b" });
      const c = await insertRun(store, { jobName: "j", job: {}, selector: {}, priority: 0, source: "" });
      const d = await insertRun(store, { jobName: "j", job: {}, selector: {}, priority: 0, source: "" });
      // An empty key means "no key", not a key shared by everyone who sends "".
      const e = await insertRun(store, { jobName: "j", job: {}, selector: {}, priority: 0, source: "", idempotencyKey: "" });
      const f = await insertRun(store, { jobName: "j", job: {}, selector: {}, priority: 0, source: "", idempotencyKey: "" });
      for (const r of [a, b, c, d, e, f]) expect(r.created).toBe(true);
      expect([a, b, c, d, e, f].map((r) => r.run.id)).toEqual(["1", "2", "3", "4", "5", "6"]);
      expect([c, d, e, f].map((r) => r.run.idempotency_key)).toEqual([null, null, null, null]);
      expect(await countRows(store.db, "runs")).toBe(6);
    });

    it("treats keys as exact strings (case, spaces, quotes)", async () => {
      const keys = ["Key", "key", "key ", "it's", 'say "hi"', "ключ", "\\x00"];
      const ids = new Set<string>();
      for (const key of keys) {
        const r = await insertRun(store, { jobName: "j", job: {}, selector: {}, priority: 0, source: "", idempotencyKey: key });
        expect(r.created).toBe(true);
        expect(r.run.idempotency_key).toBe(key);
        ids.add(r.run.id);
      }
      expect(ids.size).toBe(keys.length);
      for (const key of keys) {
        const again = await insertRun(store, { jobName: "j", job: {}, selector: {}, priority: 0, source: "", idempotencyKey: key });
        expect(again.created).toBe(false);
        expect(again.run.idempotency_key).toBe(key);
      }
      expect(await countRows(store.db, "runs")).toBe(keys.length);
    });
  });

  describe("getRun", () => {
    it("returns the run with the name of its agent, or null before assignment", async () => {
      await upsertAgent(store.db, { id: "agent-1", name: "builder-1", labels: {}, slots: 1, version: "1", killMethod: "group" });
      const queued = await submit(store);
      const placed = await submit(store);
      // Claim only the lowest id (limit 1).
      const [claimed] = await claimRuns(store, "agent-1", {}, 1);
      expect(claimed?.id).toBe(queued.id);

      const view = await getRun(store.db, queued.id);
      expect(view).toMatchObject({ id: queued.id, state: "assigned", agent_id: "agent-1", agent_name: "builder-1" });
      expect(await getRun(store.db, placed.id)).toMatchObject({ id: placed.id, state: "queued", agent_id: null, agent_name: null });
    });

    it("shows agent_name null when the agent row is unknown", async () => {
      const run = await submit(store);
      await claimRuns(store, "ghost", {}, 1);
      expect(await getRun(store.db, run.id)).toMatchObject({ agent_id: "ghost", agent_name: null });
    });

    it.each([
      ["letters", "abc"],
      ["empty", ""],
      ["sql", "1; drop table runs"],
      ["sql in quotes", "1' or '1'='1"],
      ["30 digits", "123456789012345678901234567890"],
      ["beyond int8", "9223372036854775808"],
      ["negative", "-1"],
      ["decimal", "1.0"],
      ["hex", "0x1"],
      ["exponent", "1e3"],
      ["spaces", " 1 "],
      ["newline", "1\n"],
      ["full-width digit", "１"],
      ["NUL", "1\u0000"],
    ])("returns undefined for a malformed id (%s) without touching the table", async (_label, id) => {
      const run = await submit(store);
      await expect(getRun(store.db, id)).resolves.toBeUndefined();
      expect(await countRows(store.db, "runs")).toBe(1);
      expect((await getRun(store.db, run.id))?.id).toBe(run.id);
    });

    it("returns undefined for well-formed ids that do not exist", async () => {
      await submit(store);
      for (const id of ["0", "2", "999999999999999999", "000000000000000009"]) {
        await expect(getRun(store.db, id)).resolves.toBeUndefined();
      }
      // Leading zeros still name run 1.
      expect((await getRun(store.db, "0001"))?.id).toBe("1");
    });
  });

  describe("listRuns", () => {
    it("lists newest first, paged with beforeId, filtered by state and job name", async () => {
      for (let i = 0; i < 5; i++) await submit(store, { jobName: i % 2 === 0 ? "even" : "odd" });
      await upsertAgent(store.db, { id: "agent-1", name: "builder-1", labels: {}, slots: 1, version: "1", killMethod: "group" });
      await claimRuns(store, "agent-1", {}, 2); // runs 1 and 2

      const ids = (rows: { id: string }[]) => rows.map((r) => r.id);
      expect(ids(await listRuns(store.db, { limit: 100 }))).toEqual(["5", "4", "3", "2", "1"]);
      expect(ids(await listRuns(store.db, { limit: 2 }))).toEqual(["5", "4"]);
      expect(ids(await listRuns(store.db, { limit: 2, beforeId: "4" }))).toEqual(["3", "2"]);
      expect(ids(await listRuns(store.db, { limit: 100, beforeId: "2" }))).toEqual(["1"]);
      expect(ids(await listRuns(store.db, { limit: 100, beforeId: "1" }))).toEqual([]);
      // Compared as numbers, not text ("10" < "9" as text).
      expect(ids(await listRuns(store.db, { limit: 100, beforeId: "10" }))).toEqual(["5", "4", "3", "2", "1"]);
      expect(ids(await listRuns(store.db, { limit: 100, states: ["assigned"] }))).toEqual(["2", "1"]);
      expect(ids(await listRuns(store.db, { limit: 100, states: ["queued", "assigned"] }))).toEqual(["5", "4", "3", "2", "1"]);
      expect(ids(await listRuns(store.db, { limit: 100, states: [] }))).toEqual(["5", "4", "3", "2", "1"]);
      expect(ids(await listRuns(store.db, { limit: 100, jobName: "even" }))).toEqual(["5", "3", "1"]);
      expect(ids(await listRuns(store.db, { limit: 100, jobName: "even", states: ["queued"], beforeId: "5" }))).toEqual(["3"]);
      expect(ids(await listRuns(store.db, { limit: 100, jobName: "nope" }))).toEqual([]);

      const rows = await listRuns(store.db, { limit: 100 });
      expect(rows.map((r) => r.agent_name)).toEqual([null, null, null, "builder-1", "builder-1"]);
    });

    it("pages through many runs with beforeId without gaps or repeats", async () => {
      for (let i = 0; i < 23; i++) await submit(store);
      const seen: string[] = [];
      let beforeId: string | undefined;
      for (;;) {
        const page = await listRuns(store.db, { limit: 5, beforeId });
        if (page.length === 0) break;
        seen.push(...page.map((r) => r.id));
        beforeId = page[page.length - 1]!.id;
      }
      expect(seen).toEqual(Array.from({ length: 23 }, (_, i) => String(23 - i)));
    });
  });
});
