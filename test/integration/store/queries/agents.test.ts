/** Agent rows: upsert by name keeps the first id, heartbeats, states, listing. */
import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { agentByCredential, getAgentByName, listAgents, recordHeartbeat, revokeAgentCredential, revokedAmong, setAgentState, upsertAgent, upsertAgentIfFree, type AgentHello } from "../../../../controller/store/agents.js";
import { DIALECTS, createTestStore, type TestStore } from "../../../helpers/db.js";
import { countRows, reset } from "./fixtures.js";

const hello = (over: Partial<AgentHello> = {}): AgentHello => ({
  id: "a-first",
  name: "builder",
  labels: { pool: "a" },
  slots: 2,
  version: "0.1.0",
  killMethod: "group",
  ...over,
});

describe.each(DIALECTS)("agents (%s)", (dialect) => {
  let store: TestStore;
  beforeAll(async () => {
    store = await createTestStore(dialect);
  });
  afterAll(() => store?.dispose());
  beforeEach(() => reset(store.db));

  it("a join sets the credential, fixed labels and token; it takes a name over only when its agent is not live", async () => {
    const joined = { credentialHash: "h1", fixedLabels: { pool: "gpu" }, joinedWith: "7" };
    const first = await upsertAgentIfFree(store.db, { ...hello(), joined, unlessLiveSince: new Date(Date.now() - 30_000) });
    expect(first).toMatchObject({ credential_hash: "h1", fixed_labels: { pool: "gpu" }, joined_with: "7", state: "connected" });
    expect((await agentByCredential(store.db, "h1"))?.id).toBe(first!.id);
    // Live (connected, heard from within the window): a second join under the name gets nothing, and changes nothing.
    const second = await upsertAgentIfFree(store.db, { ...hello({ id: "a-other" }), joined: { ...joined, credentialHash: "h2" }, unlessLiveSince: new Date(Date.now() - 30_000) });
    expect(second).toBeUndefined();
    expect((await getAgentByName(store.db, "builder"))?.credential_hash).toBe("h1");
    // Gone: the name is free; the old credential no longer names anyone.
    await setAgentState(store.db, first!.id, "disconnected");
    const third = await upsertAgentIfFree(store.db, { ...hello({ id: "a-other" }), joined: { ...joined, credentialHash: "h3" }, unlessLiveSince: new Date(Date.now() - 30_000) });
    expect(third).toMatchObject({ id: first!.id, credential_hash: "h3" });
    expect(await agentByCredential(store.db, "h1")).toBeUndefined();
    // Revoked: no credential, disconnected, and listed as such.
    expect(await revokeAgentCredential(store.db, "builder")).toMatchObject({ credential_hash: null, state: "disconnected" });
    expect(await revokedAmong(store.db, [first!.id])).toEqual([first!.id]);
    expect(await revokeAgentCredential(store.db, "nobody")).toBeUndefined();
  });

  it("inserts a new agent as connected with every field", async () => {
    const before = Date.now();
    const row = await upsertAgent(store.db, hello({ labels: { pool: "a", os: "linux" } }));
    expect(row).toEqual({
      id: "a-first",
      name: "builder",
      state: "connected",
      labels: { pool: "a", os: "linux" },
      slots: 2,
      version: "0.1.0",
      kill_method: "group",
      heartbeat: null,
      connected_at: expect.any(Date),
      last_seen_at: expect.any(Date),
      credential_hash: null,
      fixed_labels: {},
      joined_with: "",
    });
    expect(row.connected_at.getTime()).toBeGreaterThanOrEqual(before);
    expect(row.last_seen_at).toEqual(row.connected_at);
    expect(await getAgentByName(store.db, "builder")).toEqual(row);
  });

  it("an agent coming back under the same name keeps its first id, with the new fields", async () => {
    const first = await upsertAgent(store.db, hello());
    await setAgentState(store.db, first.id, "disconnected");
    await sleep(5); // so the reconnect's timestamps are strictly later
    const second = await upsertAgent(store.db, hello({ id: "a-second", labels: { pool: "b", gpu: "yes" }, slots: 8, version: "0.2.0", killMethod: "process" }));
    expect(second).toEqual({
      ...first,
      id: "a-first",
      state: "connected",
      labels: { pool: "b", gpu: "yes" },
      slots: 8,
      version: "0.2.0",
      kill_method: "process",
      connected_at: expect.any(Date),
      last_seen_at: expect.any(Date),
    });
    expect(second.connected_at.getTime()).toBeGreaterThan(first.connected_at.getTime());
    expect(await countRows(store.db, "agents")).toBe(1);
    expect(await getAgentByName(store.db, "builder")).toEqual(second);
    // The second id was never stored.
    expect(await store.db.selectFrom("agents").select("id").where("id", "=", "a-second").executeTakeFirst()).toBeUndefined();
  });

  it("names are exact: case and spaces make different agents", async () => {
    const a = await upsertAgent(store.db, hello({ id: "1", name: "builder" }));
    const b = await upsertAgent(store.db, hello({ id: "2", name: "Builder" }));
    const c = await upsertAgent(store.db, hello({ id: "3", name: "builder " }));
    expect([a.id, b.id, c.id]).toEqual(["1", "2", "3"]);
    expect(await countRows(store.db, "agents")).toBe(3);
  });

  it("lists agents ordered by name", async () => {
    // Lower-case ASCII letters and digits only, so every collation agrees on the order.
    for (const [id, name] of [["i1", "mike"], ["i2", "alpha"], ["i3", "zulu"], ["i4", "bravo2"], ["i5", "bravo10"], ["i6", "bravo"]] as const) {
      await upsertAgent(store.db, hello({ id, name }));
    }
    const rows = await listAgents(store.db);
    expect(rows.map((r) => r.name)).toEqual(["alpha", "bravo", "bravo10", "bravo2", "mike", "zulu"]);
    expect(rows.map((r) => r.id)).toEqual(["i2", "i6", "i5", "i4", "i1", "i3"]);
  });

  it("lists nothing when there are no agents", async () => {
    expect(await listAgents(store.db)).toEqual([]);
  });

  it("stores the last heartbeat as sent and moves last_seen_at", async () => {
    const row = await upsertAgent(store.db, hello());
    const other = await upsertAgent(store.db, hello({ id: "a-other", name: "other" }));
    await sleep(5);
    const heartbeat = { cpuPercent: 12.5, memoryUsedBytes: 17_179_869_184, memoryTotalBytes: 34_359_738_368, load1: 0.03, running: 0, agentRssBytes: 51_234_816 };
    await recordHeartbeat(store.db, row.id, heartbeat);
    const after = await getAgentByName(store.db, "builder");
    expect(after?.heartbeat).toEqual(heartbeat);
    expect(after!.last_seen_at.getTime()).toBeGreaterThan(row.last_seen_at.getTime());
    expect(after!.connected_at).toEqual(row.connected_at);

    await recordHeartbeat(store.db, row.id, { cpuPercent: 99, running: 3 });
    expect((await getAgentByName(store.db, "builder"))?.heartbeat).toEqual({ cpuPercent: 99, running: 3 });
    // Other agents untouched.
    expect(await getAgentByName(store.db, "other")).toEqual(other);
    // An unknown id is a no-op, not an error, and creates nothing.
    await recordHeartbeat(store.db, "nobody", { cpuPercent: 1 });
    expect(await countRows(store.db, "agents")).toBe(2);
  });

  it("sets the state of one agent and moves last_seen_at", async () => {
    const row = await upsertAgent(store.db, hello());
    const other = await upsertAgent(store.db, hello({ id: "a-other", name: "other" }));
    await sleep(5);
    for (const state of ["draining", "disconnected", "connected"] as const) {
      await setAgentState(store.db, row.id, state);
      expect((await getAgentByName(store.db, "builder"))?.state).toBe(state);
    }
    expect((await getAgentByName(store.db, "builder"))!.last_seen_at.getTime()).toBeGreaterThan(row.last_seen_at.getTime());
    expect(await getAgentByName(store.db, "other")).toEqual(other);
  });

  it("refuses a state outside the schema's list", async () => {
    const row = await upsertAgent(store.db, hello());
    await expect(setAgentState(store.db, row.id, "sleeping" as never)).rejects.toThrow(/agents_state_check/);
    expect((await getAgentByName(store.db, "builder"))?.state).toBe("connected");
  });

  it("getAgentByName returns undefined for an unknown name", async () => {
    await upsertAgent(store.db, hello());
    expect(await getAgentByName(store.db, "builder2")).toBeUndefined();
    expect(await getAgentByName(store.db, "")).toBeUndefined();
    expect(await getAgentByName(store.db, "' or '1'='1")).toBeUndefined();
  });
});
