// Media encryption (spec 11.1), streamed: AES-256-GCM with a fresh random 32-byte key and 12-byte
// nonce; the blob is the ciphertext followed by the 16-byte tag; `sha256` hashes the plaintext,
// `enc-sha256` the blob, `size` counts plaintext bytes. Both directions hash as the bytes pass and
// never hold a whole file in memory.
//
// Decryption never passes on plaintext before every check has passed: it decrypts into a private
// temp file, then checks enc-sha256, the GCM tag, the size and sha256 (in that order, the order of
// spec 11.1's sentence), and only then returns the file's path; on any failure the file is removed.
import { createCipheriv, createDecipheriv, createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { BlobStore } from './blob-store.ts';
import { MediaError } from './errors.ts';
import type { TempFiles } from './temp-files.ts';

export const KEY_BYTES = 32;
export const NONCE_BYTES = 12;
export const TAG_BYTES = 16;

export interface EncryptedBlob {
  mediaKey: Uint8Array;
  nonce: Uint8Array;
  /** SHA-256 of the plaintext. */
  sha256: Uint8Array;
  /** SHA-256 of the stored blob (ciphertext || tag). */
  encSha256: Uint8Array;
  /** Plaintext bytes. */
  size: number;
}

/** What a receiver needs to check and decrypt a blob (the matching MediaRef fields). */
export interface BlobRef {
  key: Uint8Array;
  nonce: Uint8Array;
  sha256: Uint8Array;
  encSha256: Uint8Array;
  size: number;
}

/**
 * Encrypts `source` into `store` under `blobKey`. `size`, when known, lets the store be told the
 * blob's exact length (S3); `maxBytes` refuses a longer plaintext with `too-large`.
 */
export async function encryptToStore(
  source: Readable,
  store: BlobStore,
  blobKey: string,
  opts: { size?: number; maxBytes?: number } = {},
): Promise<EncryptedBlob> {
  const mediaKey = new Uint8Array(randomBytes(KEY_BYTES));
  const nonce = new Uint8Array(randomBytes(NONCE_BYTES));
  const cipher = createCipheriv('aes-256-gcm', mediaKey, nonce);
  const plainHash = createHash('sha256');
  const encHash = createHash('sha256');
  let size = 0;
  const max = opts.maxBytes ?? Number.POSITIVE_INFINITY;
  async function* encrypt(): AsyncGenerator<Buffer> {
    for await (const chunk of source as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > max) throw new MediaError('too-large', `the file is larger than the limit of ${max} bytes`);
      plainHash.update(chunk);
      const out = cipher.update(chunk);
      encHash.update(out);
      yield out;
    }
    const last = Buffer.concat([cipher.final(), cipher.getAuthTag()]);
    encHash.update(last);
    yield last;
  }
  await store.put(blobKey, Readable.from(encrypt(), { objectMode: false }), opts.size === undefined ? {} : { size: opts.size + TAG_BYTES });
  return { mediaKey, nonce, sha256: new Uint8Array(plainHash.digest()), encSha256: new Uint8Array(encHash.digest()), size };
}

/**
 * Reads a blob, checks it against `ref` and decrypts it into a temp file whose path is returned
 * only once enc-sha256, the GCM tag, the size and sha256 all match. Reading stops as soon as the
 * blob is longer than `ref.size` + tag (`size-mismatch`), so a lying server cannot make us download
 * more than the declared size. The caller owns the returned file and removes it when done.
 */
export async function decryptVerified(blob: Readable, ref: BlobRef, temp: TempFiles): Promise<{ path: string; size: number }> {
  if (ref.key.length !== KEY_BYTES || ref.nonce.length !== NONCE_BYTES) {
    blob.destroy();
    throw new MediaError('tag-mismatch', `cannot decrypt: key must be ${KEY_BYTES} bytes and nonce ${NONCE_BYTES}`);
  }
  if (!Number.isSafeInteger(ref.size) || ref.size < 0) {
    blob.destroy();
    throw new MediaError('size-mismatch', 'the declared size is not a byte count');
  }
  const expected = ref.size + TAG_BYTES;
  const decipher = createDecipheriv('aes-256-gcm', ref.key, ref.nonce, { authTagLength: TAG_BYTES });
  const plainHash = createHash('sha256');
  const encHash = createHash('sha256');
  let blobBytes = 0;
  let plainBytes = 0;
  // The last 16 bytes seen so far: they may be the tag, so they are not decrypted yet.
  let tail = Buffer.alloc(0);
  const decrypt = (part: Buffer): Buffer => {
    const out = decipher.update(part);
    plainHash.update(out);
    plainBytes += out.length;
    return out;
  };
  async function* run(): AsyncGenerator<Buffer> {
    for await (const chunk of blob as AsyncIterable<Buffer>) {
      blobBytes += chunk.length;
      if (blobBytes > expected) throw new MediaError('size-mismatch', `the blob is longer than its declared size of ${ref.size} bytes`);
      encHash.update(chunk);
      if (chunk.length < TAG_BYTES) {
        // Rare tiny chunk: merge it into the held-back bytes and release what cannot be the tag.
        const joined = Buffer.concat([tail, chunk]);
        const cut = Math.max(0, joined.length - TAG_BYTES);
        tail = Buffer.from(joined.subarray(cut));
        if (cut > 0) yield decrypt(joined.subarray(0, cut));
        continue;
      }
      // The held-back bytes are not the tag after all; the chunk's last 16 bytes may be. No copy
      // of the chunk itself (GC-friendly on 100 MB files).
      const head = tail.length > 0 ? decrypt(tail) : undefined;
      const body = decrypt(chunk.subarray(0, chunk.length - TAG_BYTES));
      tail = Buffer.from(chunk.subarray(chunk.length - TAG_BYTES));
      if (head !== undefined && head.length > 0) yield head;
      yield body;
    }
    if (!same(encHash.digest(), ref.encSha256)) throw new MediaError('enc-hash-mismatch', 'the blob does not match its enc-sha256: it was altered or truncated');
    if (tail.length < TAG_BYTES) throw new MediaError('tag-mismatch', 'the blob is shorter than a GCM tag');
    let last: Buffer;
    try {
      decipher.setAuthTag(tail);
      last = decipher.final();
    } catch (err) {
      throw new MediaError('tag-mismatch', 'the blob failed AES-GCM authentication (wrong key, nonce or tampered ciphertext)', { cause: err });
    }
    plainHash.update(last);
    plainBytes += last.length;
    if (plainBytes !== ref.size) throw new MediaError('size-mismatch', `the file has ${plainBytes} bytes, ${ref.size} declared`);
    if (!same(plainHash.digest(), ref.sha256)) throw new MediaError('hash-mismatch', 'the decrypted file does not match its sha256');
    if (last.length > 0) yield last;
  }
  const path = await temp.path('in');
  try {
    await pipeline(Readable.from(run(), { objectMode: false }), createWriteStream(path, { flags: 'wx', mode: 0o600 }));
  } catch (err) {
    blob.destroy();
    await temp.remove(path);
    throw err;
  }
  return { path, size: plainBytes };
}

function same(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}
