// Media for the simulated hub users (spec 11.1), in memory:
// - hosting: blobs the simulated users send (AES-256-GCM, ciphertext || 16-byte tag) under an
//   unguessable token, served at GET /media/{token} with single-range Range support;
// - the proxy simulated users download provider-hosted media through: a size cap (the kind's
//   limit), then enc-sha256, decryption, size and sha256 checks.
import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import type { MediaRef } from '../protocol/index.ts';

export interface EncryptedMedia {
  blob: Uint8Array;
  key: Uint8Array;
  nonce: Uint8Array;
  sha256: Uint8Array;
  encSha256: Uint8Array;
}

const sha256 = (b: Uint8Array): Uint8Array => new Uint8Array(createHash('sha256').update(b).digest());

export function encryptMedia(plaintext: Uint8Array): EncryptedMedia {
  const key = new Uint8Array(randomBytes(32));
  const nonce = new Uint8Array(randomBytes(12));
  const c = createCipheriv('aes-256-gcm', key, nonce);
  const blob = new Uint8Array(Buffer.concat([c.update(plaintext), c.final(), c.getAuthTag()]));
  return { blob, key, nonce, sha256: sha256(plaintext), encSha256: sha256(blob) };
}

/** Throws MediaError for a bad blob; returns the verified plaintext. */
export function decryptMedia(ref: Pick<MediaRef, 'key' | 'nonce' | 'size' | 'sha256' | 'encSha256'>, blob: Uint8Array): Uint8Array {
  if (!equal(sha256(blob), ref.encSha256)) throw new MediaError('enc-sha256 mismatch');
  if (blob.length < 16 || ref.key.length !== 32 || ref.nonce.length !== 12) throw new MediaError('bad blob, key or nonce');
  let plain: Uint8Array;
  try {
    const d = createDecipheriv('aes-256-gcm', ref.key, ref.nonce);
    d.setAuthTag(blob.subarray(blob.length - 16));
    plain = new Uint8Array(Buffer.concat([d.update(blob.subarray(0, blob.length - 16)), d.final()]));
  } catch {
    throw new MediaError('decryption failed');
  }
  if (plain.length !== ref.size) throw new MediaError('size mismatch');
  if (!equal(sha256(plain), ref.sha256)) throw new MediaError('sha256 mismatch');
  return plain;
}

export class MediaError extends Error {
  override readonly name = 'MediaError';
}

export class MediaStore {
  readonly #blobs = new Map<string, { blob: Uint8Array; storedAtMs: number }>();

  put(blob: Uint8Array): string {
    const token = randomBytes(24).toString('base64url');
    this.#blobs.set(token, { blob, storedAtMs: Date.now() });
    return token;
  }

  get(token: string): Uint8Array | undefined {
    return this.#blobs.get(token)?.blob;
  }

  /** Drops a blob no message will point to (its send failed after it was stored). */
  delete(token: string): void {
    this.#blobs.delete(token);
  }

  /** How many blobs are held. */
  get size(): number {
    return this.#blobs.size;
  }
}

/** Serves a blob, honouring one `Range: bytes=a-b` / `a-` / `-n` range (206/416), else 200. */
export function mediaResponse(blob: Uint8Array, range: string | undefined): Response {
  const headers: Record<string, string> = { 'content-type': 'application/octet-stream', 'accept-ranges': 'bytes', 'cache-control': 'private, max-age=3600' };
  const size = blob.length;
  if (range === undefined) return new Response(new Uint8Array(blob), { status: 200, headers: { ...headers, 'content-length': String(size) } });
  const m = /^bytes=(\d*)-(\d*)$/.exec(range.trim());
  let start: number;
  let end: number;
  if (m === null || (m[1] === '' && m[2] === '')) return unsatisfiable(size);
  if (m[1] === '') {
    const n = Number(m[2]);
    if (n === 0) return unsatisfiable(size);
    start = Math.max(0, size - n);
    end = size - 1;
  } else {
    start = Number(m[1]);
    end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
  }
  if (start >= size || start > end) return unsatisfiable(size);
  const part = blob.subarray(start, end + 1);
  return new Response(new Uint8Array(part), {
    status: 206,
    headers: { ...headers, 'content-length': String(part.length), 'content-range': `bytes ${start}-${end}/${size}` },
  });
}

function unsatisfiable(size: number): Response {
  return new Response(null, { status: 416, headers: { 'content-range': `bytes */${size}` } });
}

/** GET with a byte cap; throws MediaError when the answer is not 2xx or exceeds `maxBytes`. */
export async function fetchCapped(url: string, maxBytes: number, signal: AbortSignal): Promise<Uint8Array> {
  let res: Response;
  try {
    res = await fetch(url, { signal: AbortSignal.any([signal, AbortSignal.timeout(30_000)]) });
  } catch (err) {
    throw new MediaError(`fetch failed: ${err instanceof Error ? err.name : 'error'}`);
  }
  if (!res.ok || res.body === null) {
    await res.body?.cancel();
    throw new MediaError(`fetch answered ${res.status}`);
  }
  const declared = Number(res.headers.get('content-length') ?? NaN);
  if (Number.isFinite(declared) && declared > maxBytes) {
    await res.body.cancel();
    throw new MediaError('too large');
  }
  const chunks: Uint8Array[] = [];
  let total = 0;
  const reader = res.body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.length;
    if (total > maxBytes) {
      await reader.cancel();
      throw new MediaError('too large');
    }
    chunks.push(value);
  }
  return new Uint8Array(Buffer.concat(chunks));
}

export function hex(b: Uint8Array): string {
  return Buffer.from(b).toString('hex');
}

function equal(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}
