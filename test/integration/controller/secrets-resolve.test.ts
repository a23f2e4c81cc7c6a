/**
 * Which secrets a run gets when it is assigned (controller/secrets/resolve.ts),
 * against a real store: its project's own, else the shared one; never another
 * project's; none at all for a pull request from a fork; a missing one named.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestStore, DIALECTS, type TestStore } from "../../helpers/db.js";
import { Keyring } from "../../../controller/secrets/keyring.js";
import { MasterKey } from "../../../controller/secrets/seal.js";
import { putSecret } from "../../../controller/store/secrets.js";
import { resolveRunSecrets } from "../../../controller/secrets/resolve.js";

const job = (secrets: unknown[]) => ({ apiVersion: "hodei.dev/v1", kind: "Job", metadata: { name: "j" }, spec: { run: "true", secrets } });

describe.each(DIALECTS)("resolveRunSecrets on %s", (dialect) => {
  let store: TestStore;
  const key = MasterKey.generate();
  const ring = new Keyring({ env: key.encoded() });
  const put = (name: string, project: string, value: string) => putSecret(store.db, { name, project, ...key.seal(Buffer.from(value), project, name) }, "test");

  beforeAll(async () => {
    store = await createTestStore(dialect);
    await put("SHARED", "", "shared-value");
    await put("TOKEN", "", "shared-token");
    await put("TOKEN", "web", "web-token");
    await put("OTHER", "api", "api-only");
  });
  afterAll(async () => store?.dispose());

  const resolve = (secrets: unknown[], extra: { project?: string; trigger?: unknown } = {}) =>
    resolveRunSecrets(store.db, ring, { id: "1", job: job(secrets), trigger: extra.trigger ?? null, project: extra.project });

  it("gives the project's own secret over the shared one, with env names as asked", async () => {
    const r = await resolve(["SHARED", { name: "TOKEN", env: "TOK" }], { project: "web" });
    expect(r && "values" in r && r.values.map((v) => [v.name, Buffer.from(v.value).toString(), v.env])).toEqual([
      ["SHARED", "shared-value", ""],
      ["TOKEN", "web-token", "TOK"],
    ]);
    const d = await resolve(["TOKEN"]);
    expect(d && "values" in d && Buffer.from(d.values[0]!.value).toString()).toBe("shared-token");
  });

  it("never another project's secret, and names every one missing", async () => {
    expect(await resolve(["OTHER", "NOPE", "SHARED"], { project: "web" })).toEqual({ error: "secrets OTHER, NOPE are not set for project web nor for every project; set them with `hodei secrets set NAME`" });
  });

  it("none for a pull request from a fork, even ones that exist", async () => {
    const r = await resolve(["SHARED"], { trigger: { event: "pull_request", fork: true } });
    expect(r).toEqual({ error: "runs of pull requests from forks get no secrets, and this job needs SHARED; run it from a branch of the repository itself" });
    expect(await resolve(["SHARED"], { trigger: { event: "pull_request", fork: false } })).toMatchObject({ values: [{ name: "SHARED" }] });
  });

  it("nothing to do for a job without secrets; a name given twice is an error", async () => {
    expect(await resolve([])).toBeUndefined();
    expect(await resolve(["SHARED", { name: "SHARED", env: "X" }])).toEqual({ error: "secret SHARED is named twice in spec.secrets" });
  });

  it("a value sealed with a key the controller does not have, or without any key, fails with the reason", async () => {
    expect(await resolveRunSecrets(store.db, new Keyring({ env: MasterKey.generate().encoded() }), { id: "1", job: job(["SHARED"]), trigger: null })).toEqual({
      error: `secret SHARED is sealed with master key ${key.id}, which this controller does not have; set it again or give the controller that key`,
    });
    const none = await resolveRunSecrets(store.db, new Keyring({}), { id: "1", job: job(["SHARED"]), trigger: null });
    expect(none && "error" in none && none.error).toMatch(/^secret SHARED cannot be opened: this controller has no master key/);
  });
});
