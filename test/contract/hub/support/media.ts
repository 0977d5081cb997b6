// Spec 11.1 media checks from the receiver's side: download the blob from `url`, check enc-sha256,
// decrypt AES-256-GCM (blob = ciphertext ‖ 16-byte tag), check sha256 and size.
import { createDecipheriv, createHash } from 'node:crypto';
import type { MediaRef } from '../../../../src/protocol/index.ts';

export function sha256(b: Uint8Array): Buffer {
  return createHash('sha256').update(b).digest();
}

export function decryptBlob(blob: Uint8Array, key: Uint8Array, nonce: Uint8Array): Buffer {
  if (blob.length < 16) throw new Error('blob shorter than the GCM tag');
  const d = createDecipheriv('aes-256-gcm', key, nonce);
  d.setAuthTag(blob.subarray(blob.length - 16));
  return Buffer.concat([d.update(blob.subarray(0, blob.length - 16)), d.final()]);
}

/** Downloads and verifies a hub-hosted attachment; returns the plaintext. */
export async function fetchAndVerify(m: MediaRef): Promise<{ blob: Buffer; plaintext: Buffer }> {
  const res = await fetch(m.url);
  if (res.status !== 200) throw new Error(`GET ${m.url} answered ${res.status}`);
  const blob = Buffer.from(await res.arrayBuffer());
  if (!sha256(blob).equals(Buffer.from(m.encSha256))) throw new Error('enc-sha256 does not match the blob');
  const plaintext = decryptBlob(blob, m.key, m.nonce);
  if (!sha256(plaintext).equals(Buffer.from(m.sha256))) throw new Error('sha256 does not match the plaintext');
  if (plaintext.length !== m.size) throw new Error(`size ${m.size} but ${plaintext.length} plaintext bytes`);
  return { blob, plaintext };
}
