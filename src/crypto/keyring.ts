// Encryption at rest for everything Causeway keeps in Redis that holds keys or message content.
// AES-256-GCM with a fresh random 12-byte nonce per record; the record's own location (Redis key
// and field) is the associated data, so a sealed value cannot be moved to another slot unnoticed.
// Nonces are drawn from a pooled random buffer (one getrandom call per 1,024 seals rather than one
// per seal): every pool is freshly allocated and filled by the CSPRNG, and each 12 bytes of it are
// handed out once, so nonces stay uniformly random 96-bit values, as with randomBytes(12).
// Each blob names the key-encryption key (KEK) that sealed it, so keys can be rotated: new writes
// use the active key, old blobs stay readable while their key is configured, and `rewrap`
// re-seals a blob under the active key.
//
// Blob layout: 0x01 | kid length (1 byte) | kid (ASCII) | nonce (12) | ciphertext | tag (16)
import { createCipheriv, createDecipheriv, createHmac, createSecretKey, randomFillSync, type KeyObject } from 'node:crypto';

const VERSION = 0x01;
const NONCE_BYTES = 12;
const TAG_BYTES = 16;
const POOL_NONCES = 1024;

let pool = Buffer.alloc(0);
let poolAt = 0;

/** A fresh random nonce; never the same bytes of a pool twice. */
function nextNonce(): Buffer {
  if (poolAt + NONCE_BYTES > pool.length) {
    pool = randomFillSync(Buffer.allocUnsafeSlow(NONCE_BYTES * POOL_NONCES));
    poolAt = 0;
  }
  const nonce = pool.subarray(poolAt, poolAt + NONCE_BYTES);
  poolAt += NONCE_BYTES;
  return nonce;
}

export class KeyringError extends Error {
  override readonly name: string = 'KeyringError';
}

/** A record sealed under a key id this process is not configured with: a config fault, not bad data. */
export class KeyNotConfiguredError extends KeyringError {
  override readonly name = 'KeyNotConfiguredError';
}

export interface KeyEncryptionKey {
  id: string;
  /** 32 bytes. */
  key: Uint8Array;
}

export class Keyring {
  readonly activeId: string;
  readonly #keys = new Map<string, KeyObject>();
  readonly #activeKid: Buffer;

  constructor(keys: KeyEncryptionKey[], activeId: string) {
    for (const k of keys) {
      if (!/^[A-Za-z0-9._-]{1,64}$/.test(k.id)) throw new KeyringError(`key id "${k.id}" must be 1–64 of [A-Za-z0-9._-]`);
      if (k.key.length !== 32) throw new KeyringError(`key "${k.id}" must be 32 bytes, got ${k.key.length}`);
      if (this.#keys.has(k.id)) throw new KeyringError(`key id "${k.id}" appears twice`);
      this.#keys.set(k.id, createSecretKey(k.key));
    }
    if (!this.#keys.has(activeId)) throw new KeyringError(`active key "${activeId}" is not among the configured keys`);
    this.activeId = activeId;
    this.#activeKid = Buffer.from(activeId, 'ascii');
  }

  /**
   * A check value per key id: HMAC-SHA256 of a fixed label under the key. It tells two keys given
   * the same id apart (key-check.ts) and says nothing about the key itself.
   */
  checkValues(): Map<string, string> {
    return new Map([...this.#keys].map(([id, key]) => [id, createHmac('sha256', key).update('causeway key check v1').digest('base64url')]));
  }

  /** Encrypts `plaintext` bound to `aad` (the record's location) under the active key. */
  seal(plaintext: Uint8Array, aad: string): Buffer {
    const key = this.#keys.get(this.activeId) as KeyObject;
    const nonce = nextNonce();
    const cipher = createCipheriv('aes-256-gcm', key, nonce);
    cipher.setAAD(Buffer.from(aad, 'utf8'));
    const ct = cipher.update(plaintext);
    const final = cipher.final();
    const header = Buffer.allocUnsafe(2);
    header[0] = VERSION;
    header[1] = this.#activeKid.length;
    return Buffer.concat([header, this.#activeKid, nonce, ct, final, cipher.getAuthTag()]);
  }

  /** Decrypts a blob sealed by `seal` with the same `aad`; throws KeyringError if anything is off. */
  open(blob: Uint8Array, aad: string): Buffer<ArrayBuffer> {
    const { kid, body } = this.#split(blob);
    const key = this.#keys.get(kid);
    if (!key) throw new KeyNotConfiguredError(`record sealed with key "${kid}", which is not configured`);
    const nonce = body.subarray(0, NONCE_BYTES);
    const tag = body.subarray(body.length - TAG_BYTES);
    const ct = body.subarray(NONCE_BYTES, body.length - TAG_BYTES);
    try {
      const decipher = createDecipheriv('aes-256-gcm', key, nonce);
      decipher.setAAD(Buffer.from(aad, 'utf8'));
      decipher.setAuthTag(tag);
      // Buffer.concat always allocates from a plain ArrayBuffer.
      return Buffer.concat([decipher.update(ct), decipher.final()]) as Buffer<ArrayBuffer>;
    } catch {
      throw new KeyringError('record failed authentication (wrong key, wrong location, or tampered)');
    }
  }

  /** The id of the key that sealed `blob`. */
  keyIdOf(blob: Uint8Array): string {
    return this.#split(blob).kid;
  }

  /** Re-seals a blob under the active key; returns undefined when it already is. */
  rewrap(blob: Uint8Array, aad: string): Buffer | undefined {
    if (this.keyIdOf(blob) === this.activeId) return undefined;
    return this.seal(this.open(blob, aad), aad);
  }

  #split(blob: Uint8Array): { kid: string; body: Uint8Array } {
    if (blob.length < 2 || blob[0] !== VERSION) throw new KeyringError('not a sealed record (unknown version)');
    const kidLen = blob[1] as number;
    const body = blob.subarray(2 + kidLen);
    if (kidLen === 0 || body.length < NONCE_BYTES + TAG_BYTES) throw new KeyringError('sealed record is truncated');
    return { kid: Buffer.from(blob.subarray(2, 2 + kidLen)).toString('ascii'), body };
  }
}
