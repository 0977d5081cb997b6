// What a Matrix client does with encrypted attachments (client-server spec "Sending encrypted
// attachments"), written here independently of the bridge (WebCrypto, not node:crypto's ciphers)
// so that one side cannot hide a bug of the other: encrypt and upload with matrix-js-sdk's
// uploadContent, download from the authenticated media endpoint and decrypt with hash check.
import type { MatrixClient } from 'matrix-js-sdk';
import { createHash, webcrypto } from 'node:crypto';

type Json = Record<string, unknown>;
const { subtle } = webcrypto;

const b64 = (b: Uint8Array): string => Buffer.from(b).toString('base64').replace(/=+$/, '');
export const sha256hex = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

/** An `EncryptedFile` (without `url`) and the ciphertext, as Element would make it. */
export async function encryptAttachment(plain: Uint8Array): Promise<{ ciphertext: Uint8Array; file: Json }> {
  const iv = new Uint8Array(16);
  webcrypto.getRandomValues(iv.subarray(0, 8));
  const key = await subtle.generateKey({ name: 'AES-CTR', length: 256 }, true, ['encrypt', 'decrypt']);
  const jwk = await subtle.exportKey('jwk', key);
  const ciphertext = new Uint8Array(await subtle.encrypt({ name: 'AES-CTR', counter: iv, length: 64 }, key, plain));
  const hash = new Uint8Array(await subtle.digest('SHA-256', ciphertext));
  return { ciphertext, file: { v: 'v2', key: { kty: 'oct', alg: 'A256CTR', ext: true, k: jwk.k, key_ops: ['encrypt', 'decrypt'] }, iv: b64(iv), hashes: { sha256: b64(hash) } } };
}

/** Encrypts and uploads a file as `client`; answers the `file` object for the event. */
export async function uploadEncrypted(client: MatrixClient, plain: Uint8Array): Promise<Json> {
  const { ciphertext, file } = await encryptAttachment(plain);
  const up = await client.uploadContent(new Blob([ciphertext]), { type: 'application/octet-stream', includeFilename: false });
  return { ...file, url: up.content_uri };
}

const fromB64 = (s: string): Uint8Array => Buffer.from(s.replace(/-/g, '+').replace(/_/g, '/'), 'base64');

/** Downloads an `mxc://` as `client` from the authenticated endpoint. */
export async function download(client: MatrixClient, hsUrl: string, mxc: string): Promise<Uint8Array> {
  const [server, id] = mxc.replace('mxc://', '').split('/') as [string, string];
  const r = await fetch(`${hsUrl}/_matrix/client/v1/media/download/${server}/${id}`, { headers: { authorization: `Bearer ${client.getAccessToken() ?? ''}` } });
  if (!r.ok) throw new Error(`download ${r.status}`);
  return new Uint8Array(await r.arrayBuffer());
}

/** Downloads and decrypts an encrypted attachment, refusing one whose hash does not match. */
export async function downloadDecrypted(client: MatrixClient, hsUrl: string, file: Json): Promise<Uint8Array> {
  const ciphertext = await download(client, hsUrl, String(file.url));
  const want = String((file.hashes as Json).sha256);
  if (b64(new Uint8Array(await subtle.digest('SHA-256', ciphertext))) !== want.replace(/=+$/, '')) throw new Error('attachment hash mismatch');
  const jwk = file.key as Json;
  const key = await subtle.importKey('jwk', { kty: 'oct', alg: 'A256CTR', k: String(jwk.k), ext: true, key_ops: ['encrypt', 'decrypt'] }, { name: 'AES-CTR' }, false, ['decrypt']);
  return new Uint8Array(await subtle.decrypt({ name: 'AES-CTR', counter: fromB64(String(file.iv)), length: 64 }, key, ciphertext));
}
