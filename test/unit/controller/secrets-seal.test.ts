/**
 * Sealing secrets (controller/secrets/seal.ts) and the master keys
 * (controller/secrets/keyring.ts): a sealed value opens only with its key, for
 * its name and project, unaltered; keys come from the environment or a 0600
 * file, never in an error message.
 */
import { describe, expect, it } from "vitest";
import { chmodSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import { MasterKey, SealError } from "../../../controller/secrets/seal.js";
import { Keyring, NoMasterKeyError } from "../../../controller/secrets/keyring.js";
import { tempDir } from "../../helpers/procs.js";

const VALUE = Buffer.from("hunter2-is-not-a-good-password");

describe("MasterKey.seal/open", () => {
  const key = MasterKey.generate();

  it("round-trips, with a fresh nonce each time and no plaintext in the sealed bytes", () => {
    const a = key.seal(VALUE, "web", "NPM_TOKEN");
    const b = key.seal(VALUE, "web", "NPM_TOKEN");
    expect(a.nonce.equals(b.nonce)).toBe(false);
    expect(a.sealed.includes(VALUE)).toBe(false);
    expect(key.open(a, "web", "NPM_TOKEN").equals(VALUE)).toBe(true);
  });

  it("refuses a flipped bit anywhere, another name or project, and another key", () => {
    const s = key.seal(VALUE, "web", "NPM_TOKEN");
    for (let i = 0; i < s.sealed.length; i++) {
      const bad = Buffer.from(s.sealed);
      bad[i]! ^= 1;
      expect(() => key.open({ ...s, sealed: bad }, "web", "NPM_TOKEN")).toThrow(SealError);
    }
    const nonce = Buffer.from(s.nonce);
    nonce[0]! ^= 1;
    expect(() => key.open({ ...s, nonce }, "web", "NPM_TOKEN")).toThrow(SealError);
    expect(() => key.open(s, "web", "OTHER")).toThrow(/sealed for another name or project/);
    expect(() => key.open(s, "", "NPM_TOKEN")).toThrow(SealError);
    expect(() => key.open({ ...s, sealed: s.sealed.subarray(0, 3) }, "web", "NPM_TOKEN")).toThrow(/damaged/);
    const other = MasterKey.generate();
    expect(() => other.open(s, "web", "NPM_TOKEN")).toThrow(new RegExp(`sealed with key ${key.id}`));
    expect(() => other.open({ ...s, keyId: other.id }, "web", "NPM_TOKEN")).toThrow(SealError);
  });

  it("takes only 32-byte keys", () => {
    expect(() => new MasterKey(randomBytes(16))).toThrow(/32 bytes/);
  });
});

describe("Keyring", () => {
  const b64 = randomBytes(32).toString("base64");

  it("reads HODEI_MASTER_KEY (base64 or hex) and the previous keys, and never echoes a bad key", () => {
    const prev = randomBytes(32);
    const k = new Keyring({ env: b64, previousEnv: ` ${prev.toString("hex")} ,` });
    expect(k.current().encoded()).toBe(b64);
    expect(k.byId(new MasterKey(prev).id)).toBeDefined();
    expect(k.managesFile).toBe(false);
    for (const bad of ["short", `${b64.slice(0, -4)}!!!!`, randomBytes(31).toString("base64"), "z".repeat(64)]) {
      let message = "";
      try {
        new Keyring({ env: bad }).current();
      } catch (err) {
        expect(err).toBeInstanceOf(NoMasterKeyError);
        message = (err as Error).message;
      }
      expect(message).toMatch(/HODEI_MASTER_KEY is not a master key/);
      expect(message).not.toContain(bad);
    }
    expect(() => new Keyring({ env: b64, file: "/x" })).toThrow(/not both/);
  });

  it("without a key says how to give one; a missing file is made 0600 only when allowed", () => {
    expect(() => new Keyring({}).current()).toThrow(/HODEI_MASTER_KEY .*--master-key-file/);
    const dir = tempDir("hodei-keyring-");
    const file = join(dir, "master.key");
    expect(() => new Keyring({ file }).current()).toThrow(/does not exist; create it/);
    const made = new Keyring({ file, create: true }).current();
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(new Keyring({ file }).current().id).toBe(made.id);
  });

  it("refuses a key file others can read, and one that holds no key", () => {
    const dir = tempDir("hodei-keyring-");
    const file = join(dir, "master.key");
    writeFileSync(file, `${b64}\n`, { mode: 0o644 });
    chmodSync(file, 0o644);
    expect(() => new Keyring({ file }).current()).toThrow(/readable by others \(mode 644\); chmod 600/);
    writeFileSync(file, "# nothing\n", { mode: 0o600 });
    chmodSync(file, 0o600);
    expect(() => new Keyring({ file }).current()).toThrow(/holds no key/);
  });

  it("rotates in its own file: the new key first, the old kept until forgotten", () => {
    const dir = tempDir("hodei-keyring-");
    const file = join(dir, "master.key");
    const ring = new Keyring({ file, create: true });
    const old = ring.current();
    const fresh = ring.addNewKey();
    const reread = new Keyring({ file });
    expect(reread.current().id).toBe(fresh.id);
    expect(reread.byId(old.id)).toBeDefined();
    ring.forgetOld();
    const after = new Keyring({ file });
    expect(after.byId(old.id)).toBeUndefined();
    expect(readFileSync(file, "utf8")).not.toContain(old.encoded());
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(() => new Keyring({ env: b64 }).addNewKey()).toThrow(/HODEI_MASTER_KEY_PREVIOUS/);
  });
});
