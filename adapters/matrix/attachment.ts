// Matrix encrypted attachments (client-server spec "Sending encrypted attachments", `EncryptedFile`
// v2): AES-256-CTR under a fresh key given as a JWK, a 16-byte IV whose low 64 bits (the counter)
// start at zero, and the SHA-256 of the ciphertext in `hashes.sha256` (unpadded base64). Pure
// except for the randomness of the key and IV.
//
// Decryption is a web TransformStream so that a large file never sits in memory: it counts the
// bytes (a cap), hashes the ciphertext and decrypts as it goes, and fails at the end when the hash
// differs — consumers must treat the plaintext as unusable until the stream has closed cleanly
// (the core spools it and checks it only after the end, so a failed stream is never sent).
import { createCipheriv, createDecipheriv, createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Json } from './matrix-api.ts';

export type AttachmentErrorCode = 'bad-file' | 'too-large' | 'hash-mismatch' | 'download-failed' | 'upload-failed';

/** A Matrix attachment that cannot be used; the message is a sentence for the Matrix user. */
export class AttachmentError extends Error {
  override readonly name = 'AttachmentError';
  readonly code: AttachmentErrorCode;
  constructor(code: AttachmentErrorCode, message: string) {
    super(message);
    this.code = code;
  }
}

/** `EncryptedFile` as read from an event, checked. */
export interface EncryptedFile {
  url: string;
  key: Buffer;
  iv: Buffer;
  sha256: Buffer;
}

const B64 = /^[A-Za-z0-9+/_-]+=*$/;

function b64(s: unknown, what: string): Buffer {
  if (typeof s !== 'string' || !B64.test(s)) throw new AttachmentError('bad-file', `the attachment's ${what} is not base64`);
  return Buffer.from(s.replace(/-/g, '+').replace(/_/g, '/'), 'base64');
}

const unpadded = (b: Uint8Array): string => Buffer.from(b).toString('base64').replace(/=+$/, '');

/** Reads and checks the `file` object of an encrypted attachment. */
export function readEncryptedFile(file: unknown): EncryptedFile {
  if (typeof file !== 'object' || file === null) throw new AttachmentError('bad-file', 'the attachment has no file description');
  const f = file as Json;
  if (f.v !== 'v2') throw new AttachmentError('bad-file', `the attachment uses an unsupported version (${String(f.v).slice(0, 10)})`);
  if (typeof f.url !== 'string' || !f.url.startsWith('mxc://')) throw new AttachmentError('bad-file', 'the attachment has no mxc:// URL');
  const jwk = (f.key ?? {}) as Json;
  if (jwk.kty !== 'oct' || jwk.alg !== 'A256CTR') throw new AttachmentError('bad-file', 'the attachment key is not an AES-256-CTR key');
  if (!Array.isArray(jwk.key_ops) || !jwk.key_ops.includes('decrypt')) throw new AttachmentError('bad-file', 'the attachment key may not be used to decrypt');
  const key = b64(jwk.k, 'key');
  const iv = b64(f.iv, 'IV');
  const sha256 = b64((f.hashes as Json | undefined)?.sha256, 'SHA-256 hash');
  if (key.length !== 32) throw new AttachmentError('bad-file', 'the attachment key is not 256 bits');
  if (iv.length !== 16) throw new AttachmentError('bad-file', 'the attachment IV is not 16 bytes');
  if (sha256.length !== 32) throw new AttachmentError('bad-file', 'the attachment hash is not a SHA-256');
  return { url: f.url, key, iv, sha256 };
}

/** Encrypts a file for a Matrix room: the ciphertext to upload and the `file` object without its `url`. */
export function encryptAttachment(plain: Uint8Array): { ciphertext: Buffer; file: Json } {
  const key = randomBytes(32);
  // The low 64 bits are the block counter: zero, so that it cannot wrap within a file.
  const iv = Buffer.concat([randomBytes(8), Buffer.alloc(8)]);
  const c = createCipheriv('aes-256-ctr', key, iv);
  const ciphertext = Buffer.concat([c.update(plain), c.final()]);
  return {
    ciphertext,
    file: {
      v: 'v2',
      key: { kty: 'oct', key_ops: ['encrypt', 'decrypt'], alg: 'A256CTR', k: key.toString('base64url'), ext: true },
      iv: unpadded(iv),
      hashes: { sha256: unpadded(createHash('sha256').update(ciphertext).digest()) },
    },
  };
}

/**
 * A stream stage that caps a download at `maxBytes` and, for an encrypted attachment, checks the
 * ciphertext's SHA-256 and decrypts it. The stream fails with an AttachmentError on any problem.
 */
export function verifyingStream(maxBytes: number, file?: EncryptedFile): TransformStream<Uint8Array, Uint8Array> {
  const hash = file ? createHash('sha256') : undefined;
  const decipher = file ? createDecipheriv('aes-256-ctr', file.key, file.iv) : undefined;
  let total = 0;
  return new TransformStream<Uint8Array, Uint8Array>({
    transform(chunk, ctl) {
      total += chunk.byteLength;
      if (total > maxBytes) throw new AttachmentError('too-large', `the file is larger than the bridge's limit of ${maxBytes} bytes`);
      hash?.update(chunk);
      const out = decipher ? decipher.update(chunk) : chunk;
      if (out.byteLength > 0) ctl.enqueue(new Uint8Array(out.buffer, out.byteOffset, out.byteLength));
    },
    flush(ctl) {
      if (!file || !hash || !decipher) return;
      const got = hash.digest();
      if (!timingSafeEqual(got, file.sha256)) throw new AttachmentError('hash-mismatch', 'the file does not match its hash (damaged or tampered with)');
      const rest = decipher.final();
      if (rest.byteLength > 0) ctl.enqueue(new Uint8Array(rest));
    },
  });
}

/** Reads a whole stream (small files: stickers). */
export async function readAll(s: ReadableStream<Uint8Array>): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  for await (const c of s) parts.push(c);
  return Buffer.concat(parts);
}
