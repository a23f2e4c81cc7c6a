/**
 * SubmitRun with hostile job JSON (issue 6, item 11): each is refused as
 * INVALID_ARGUMENT with the validator's words, before the store sees it
 * (a NUL used to come back as PostgreSQL's "unsupported Unicode escape
 * sequence"; 5000 levels as "cannot be copied"; 1.2 MB of "é" was taken).
 */
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ControlClient } from "../../../cli/client.js";
import { startController, type Controller } from "../../../controller/server.js";
import { createTestDatabase, type TestDatabase } from "../../helpers/db.js";

let db: TestDatabase;
let controller: Controller;
let client: ControlClient;

beforeAll(async () => {
  db = await createTestDatabase();
  controller = await startController({ databaseUrl: db.url, listen: "127.0.0.1:0", logger: pino({ level: "silent" }) });
  client = new ControlClient(controller.address);
});

afterAll(async () => {
  client?.close();
  await controller?.stop();
  await db?.drop();
});

const job = (spec: Record<string, unknown>) => ({ apiVersion: "hodei.dev/v1", kind: "Job", metadata: { name: "hostile" }, spec });
const submit = (jobJson: string) => client.submitRun({ jobJson, source: "hostile.json", idempotencyKey: "" });
const refusal = (jobJson: string) => submit(jobJson).then(() => "accepted", (err: Error) => err.message);

describe("SubmitRun refuses", () => {
  it("a NUL in an env value, with the pointer, not a PostgreSQL error", async () => {
    const message = await refusal(JSON.stringify(job({ run: "true", env: { A: "x\0y" } })));
    expect(message).toBe("hostile.json: environment variable value must not contain a NUL character (\\0) (at /spec/env/A)");
  });

  it('command: [""]', async () => {
    expect(await refusal(JSON.stringify(job({ command: [""] })))).toBe("hostile.json: the program (command[0]) must not be empty (at /spec/command/0)");
  });

  it("a document over 1 MiB in bytes, though under it in characters", async () => {
    const jobJson = JSON.stringify(job({ run: `echo ${"é".repeat(600_000)}` }));
    expect(jobJson.length).toBeLessThan(1 << 20);
    expect(await refusal(jobJson)).toBe(`job document is ${Buffer.byteLength(jobJson)} bytes; the limit is ${1 << 20}`);
  });

  it("a document 5000 levels deep, as nested too deeply", async () => {
    const jobJson = `{"apiVersion":"hodei.dev/v1","kind":"Job","metadata":{"name":"deep"},"spec":{"run":"true","env":${'{"a":'.repeat(5000)}"x"${"}".repeat(5000)}}}`;
    expect(await refusal(jobJson)).toMatch(/^hostile\.json: nested too deeply \(more than 64 levels\) \(at \/spec\/env(\/a)+\)$/);
  });

  it("secrets named twice, or in a malformed entry, as schema errors; a sound list is queued (checked when assigned)", async () => {
    expect(await refusal(JSON.stringify(job({ run: "true", secrets: ["A", "A"] })))).toMatch(/secrets/);
    expect(await refusal(JSON.stringify(job({ run: "true", secrets: [{ env: "X" }] })))).toMatch(/secrets/);
    expect(await refusal(JSON.stringify(job({ run: "true", secrets: [{ name: "A", env: "X", extra: 1 }] })))).toMatch(/secrets/);
    expect((await submit(JSON.stringify(job({ run: "true", secrets: ["API_TOKEN", { name: "NPM_TOKEN", env: "NPM" }] })))).state).toBe("queued");
  });

  it("and still takes a sound job", async () => {
    const run = await submit(JSON.stringify(job({ command: ["printf", "%s", ""], env: { A: "é" } })));
    expect(run.state).toBe("queued");
  });
});
