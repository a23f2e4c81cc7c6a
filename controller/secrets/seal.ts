/**
 * Sealing secret values: AES-256-GCM (node:crypto), a fresh 96-bit nonce per
 * value, the tag appended to the ciphertext. The additional data binds a
 * sealed value to its project and name, so a row copied onto another name (by
 * someone who can write the database but not read the key) does not open.
 */
import { createCipheriv, createDecipheriv, createHash, randomBytes } from "node:crypto";

const TAG_BYTES = 16;

export interface Sealed {
  keyId: string;
  nonce: Buffer;
  sealed: Buffer;
}

/** A 32-byte master key and its id (the first 16 hex digits of its SHA-256: names the key, reveals nothing of it). */
export class MasterKey {
  readonly id: string;
  constructor(private readonly key: Buffer) {
    if (key.length !== 32) throw new Error(`a master key is 32 bytes, not ${key.length}`);
    this.id = createHash("sha256").update(key).digest("hex").slice(0, 16);
  }

  static generate(): MasterKey {
    return new MasterKey(randomBytes(32));
  }

  /** The key as its file and HODEI_MASTER_KEY hold it: base64. */
  encoded(): string {
    return this.key.toString("base64");
  }

  seal(value: Buffer, project: string, name: string): Sealed {
    const nonce = randomBytes(12);
    const c = createCipheriv("aes-256-gcm", this.key, nonce);
    c.setAAD(aad(project, name));
    const sealed = Buffer.concat([c.update(value), c.final(), c.getAuthTag()]);
    return { keyId: this.id, nonce, sealed };
  }

  /** Throws SealError when the value was not sealed by this key for this project and name, or was altered. */
  open(s: Sealed, project: string, name: string): Buffer {
    if (s.keyId !== this.id) throw new SealError(`secret ${name} is sealed with key ${s.keyId}, not with key ${this.id}`);
    if (s.sealed.length < TAG_BYTES) throw new SealError(`secret ${name} is damaged`);
    try {
      const d = createDecipheriv("aes-256-gcm", this.key, s.nonce);
      d.setAAD(aad(project, name));
      d.setAuthTag(s.sealed.subarray(s.sealed.length - TAG_BYTES));
      return Buffer.concat([d.update(s.sealed.subarray(0, s.sealed.length - TAG_BYTES)), d.final()]);
    } catch (err) {
      throw new SealError(`secret ${name} does not open with key ${this.id}: it was altered, or sealed for another name or project`, { cause: err });
    }
  }
}

export class SealError extends Error {
  override readonly name = "SealError";
}

const aad = (project: string, name: string): Buffer => Buffer.from(JSON.stringify(["hodei-secret-v1", project, name]));
