/**
 * The controller's master keys: the current one seals, older ones still open
 * values until `hodei secrets rotate-key` has resealed them. Never in the
 * database. From, in order:
 *
 *   - HODEI_MASTER_KEY (base64 of 32 bytes), with HODEI_MASTER_KEY_PREVIOUS
 *     (comma-separated) for the keys it replaced: the operator rotates by
 *     moving the old key there, setting a new one, and running rotate-key;
 *   - a key file (--master-key-file; the embedded daemon's is master.key in
 *     its data dir): one base64 key per line, the current first. A file the
 *     controller may create (the embedded daemon's) is made, mode 0600, when
 *     first needed, and rotate-key writes a new key into it itself.
 */
import { randomBytes } from "node:crypto";
import { chmodSync, existsSync, readFileSync, renameSync, statSync, writeFileSync } from "node:fs";
import { MasterKey } from "./seal.js";

export interface KeyringOptions {
  /** HODEI_MASTER_KEY's value. */
  env?: string;
  /** HODEI_MASTER_KEY_PREVIOUS's value. */
  previousEnv?: string;
  file?: string;
  /** Create `file` (0600) when it does not exist yet. */
  create?: boolean;
}

/** No key is configured; the message says how to give one. */
export class NoMasterKeyError extends Error {
  override readonly name = "NoMasterKeyError";
}

export class Keyring {
  private keys?: MasterKey[];

  constructor(private readonly opts: KeyringOptions) {
    if (opts.env !== undefined && opts.file !== undefined) throw new Error("give the master key in HODEI_MASTER_KEY or in a key file, not both");
  }

  /** Whether this keyring writes its own key file (and so can rotate by itself). */
  get managesFile(): boolean {
    return this.opts.file !== undefined && this.opts.env === undefined;
  }

  /** The key that seals; throws NoMasterKeyError when none is configured (and none may be created). */
  current(): MasterKey {
    return this.load()[0]!;
  }

  /** The key with this id, current or previous. */
  byId(id: string): MasterKey | undefined {
    return this.load().find((k) => k.id === id);
  }

  /**
   * For a rotation by the controller itself: a new current key, written to the
   * key file with the old ones kept until `forget()` (so a crash midway loses nothing).
   */
  addNewKey(): MasterKey {
    if (!this.managesFile) throw new NoMasterKeyError("this controller's master key comes from HODEI_MASTER_KEY: rotate it by setting a new key there and the old one in HODEI_MASTER_KEY_PREVIOUS, then run rotate-key again");
    const fresh = MasterKey.generate();
    this.write([fresh, ...this.load()]);
    return fresh;
  }

  /** Drops every key but the current one from the key file (after a rotation resealed everything). */
  forgetOld(): void {
    if (this.managesFile) this.write([this.current()]);
  }

  private load(): MasterKey[] {
    if (this.keys) return this.keys;
    const { env, previousEnv, file, create } = this.opts;
    if (env !== undefined) {
      this.keys = [parseKey(env, "HODEI_MASTER_KEY"), ...(previousEnv ?? "").split(",").map((k) => k.trim()).filter(Boolean).map((k) => parseKey(k, "HODEI_MASTER_KEY_PREVIOUS"))];
      return this.keys;
    }
    if (file === undefined) {
      throw new NoMasterKeyError("this controller has no master key for secrets: set HODEI_MASTER_KEY (base64 of 32 random bytes, e.g. `openssl rand -base64 32`) or start it with --master-key-file");
    }
    if (!existsSync(file)) {
      if (!create) throw new NoMasterKeyError(`the master key file ${file} does not exist; create it with \`openssl rand -base64 32 > ${file}; chmod 600 ${file}\``);
      this.write([MasterKey.generate()]);
      return this.keys!;
    }
    const mode = statSync(file).mode & 0o777;
    if (mode & 0o077) throw new NoMasterKeyError(`the master key file ${file} is readable by others (mode ${mode.toString(8)}); chmod 600 ${file}`);
    const lines = readFileSync(file, "utf8").split("\n").map((l) => l.trim()).filter((l) => l && !l.startsWith("#"));
    if (lines.length === 0) throw new NoMasterKeyError(`the master key file ${file} holds no key`);
    this.keys = lines.map((l, i) => parseKey(l, `${file} line ${i + 1}`));
    return this.keys;
  }

  private write(keys: MasterKey[]): void {
    const file = this.opts.file!;
    const tmp = `${file}.${randomBytes(4).toString("hex")}.tmp`;
    writeFileSync(tmp, `# Hodei's master keys for secrets: the first seals, the others still open. Never share or commit this file.\n${keys.map((k) => k.encoded()).join("\n")}\n`, { mode: 0o600, flag: "wx" });
    chmodSync(tmp, 0o600);
    renameSync(tmp, file);
    this.keys = keys;
  }
}

function parseKey(text: string, where: string): MasterKey {
  const hex = /^[0-9a-f]{64}$/i.test(text);
  const raw = hex ? Buffer.from(text, "hex") : Buffer.from(text, "base64");
  // Node's base64 decoder skips what is not base64; the round trip catches a mistyped key.
  if (raw.length !== 32 || (!hex && raw.toString("base64").replace(/=+$/, "") !== text.replace(/=+$/, ""))) {
    throw new NoMasterKeyError(`${where} is not a master key: expected 32 bytes as base64 (44 characters, e.g. from \`openssl rand -base64 32\`) or hex (64 digits)`);
  }
  return new MasterKey(raw);
}
