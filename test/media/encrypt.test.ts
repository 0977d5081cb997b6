// Spec 11.1 encryption, streamed: round trips, interop with the mock hub's independent
// implementation, and every refusal of decryptVerified (each with its code, and no plaintext file
// left behind).
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decryptMedia, encryptMedia } from '../../src/mock-hub/media.ts';
import { decryptVerified, encryptToStore, type BlobRef } from '../../src/media/encrypt.ts';
import { MediaError, type MediaErrorCode } from '../../src/media/errors.ts';
import { FsBlobStore } from '../../src/media/fs-blob-store.ts';
import { TempFiles } from '../../src/media/temp-files.ts';

let dir: string;
let store: FsBlobStore;
let temp: TempFiles;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'causeway-enc-'));
  store = new FsBlobStore(join(dir, 'store'));
  temp = new TempFiles(join(dir, 'tmp'));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

const sha = (b: Uint8Array) => new Uint8Array(createHash('sha256').update(b).digest());
const chunks = (b: Buffer, size = 1000) => Readable.from(Array.from({ length: Math.ceil(b.length / size) }, (_, i) => b.subarray(i * size, (i + 1) * size)));

async function encrypted(plain: Buffer, key = `k${randomBytes(8).toString('hex')}`) {
  const e = await encryptToStore(chunks(plain), store, key, { size: plain.length });
  const blob = await buffer((await store.get(key)).stream);
  const ref: BlobRef = { key: e.mediaKey, nonce: e.nonce, sha256: e.sha256, encSha256: e.encSha256, size: e.size };
  return { e, blob, ref };
}

async function refused(blob: Buffer, ref: BlobRef, code: MediaErrorCode, chunkSize = 777) {
  const before = await readdir(temp.dir).catch(() => []);
  const err = await decryptVerified(chunks(blob, chunkSize), ref, temp).then(() => undefined, (e: unknown) => e);
  expect(err).toBeInstanceOf(MediaError);
  expect((err as MediaError).code).toBe(code);
  expect(await readdir(temp.dir)).toEqual(before); // the unverified plaintext is gone
}

describe('encryptToStore', () => {
  it('stores ciphertext || 16-byte tag with fresh key and nonce and the spec 11.1 hashes', async () => {
    const plain = randomBytes(10_000);
    const { e, blob } = await encrypted(plain);
    expect(e.mediaKey.length).toBe(32);
    expect(e.nonce.length).toBe(12);
    expect(e.size).toBe(10_000);
    expect(blob.length).toBe(10_016);
    expect(e.sha256).toEqual(sha(plain));
    expect(e.encSha256).toEqual(sha(blob));
    const again = await encrypted(plain);
    expect(Buffer.from(again.e.mediaKey)).not.toEqual(Buffer.from(e.mediaKey));
    expect(Buffer.from(again.e.nonce)).not.toEqual(Buffer.from(e.nonce));
  });

  it('is decrypted by the mock hub, and decrypts what the mock hub encrypts (independent implementations)', async () => {
    const plain = randomBytes(5000);
    const { blob, ref } = await encrypted(plain);
    expect(Buffer.from(decryptMedia(ref, blob))).toEqual(plain);
    const theirs = encryptMedia(plain);
    const { path } = await decryptVerified(Readable.from([Buffer.from(theirs.blob)]), { ...theirs, size: plain.length }, temp);
    expect(await readFile(path)).toEqual(plain);
    await temp.remove(path);
  });

  it('refuses a plaintext over maxBytes with too-large and stores nothing', async () => {
    const err = await encryptToStore(chunks(randomBytes(5000)), store, 'too-large-1', { maxBytes: 4096 }).catch((e: unknown) => e);
    expect((err as MediaError).code).toBe('too-large');
    expect(await store.stat('too-large-1')).toBeUndefined();
  });
});

describe('decryptVerified', () => {
  it('round-trips byte-identical for sizes around the tag and chunk boundaries', async () => {
    for (const n of [0, 1, 15, 16, 17, 777, 4096, 100_001]) {
      const plain = randomBytes(n);
      const { ref, blob } = await encrypted(plain);
      for (const chunkSize of [1, 16, 1000]) {
        if (n > 20_000 && chunkSize < 1000) continue;
        const out = await decryptVerified(chunks(blob, chunkSize), ref, temp);
        expect(out.size).toBe(n);
        expect(sha(await readFile(out.path))).toEqual(sha(plain));
        await temp.remove(out.path);
      }
    }
  });

  it('refuses a tampered blob (one flipped byte) with enc-hash-mismatch', async () => {
    const { ref, blob } = await encrypted(randomBytes(3000));
    blob[1234] = (blob[1234] ?? 0) ^ 1;
    await refused(blob, ref, 'enc-hash-mismatch');
  });

  it('refuses a tampered blob whose enc-sha256 was forged to match with tag-mismatch', async () => {
    const { ref, blob } = await encrypted(randomBytes(3000));
    blob[10] = (blob[10] ?? 0) ^ 0x80;
    await refused(blob, { ...ref, encSha256: sha(blob) }, 'tag-mismatch');
    const tagFlipped = Buffer.from(blob);
    tagFlipped[tagFlipped.length - 1] = (tagFlipped[tagFlipped.length - 1] ?? 0) ^ 1;
    await refused(tagFlipped, { ...ref, encSha256: sha(tagFlipped) }, 'tag-mismatch');
  });

  it('refuses a wrong key or nonce with tag-mismatch, and keys of the wrong length', async () => {
    const { ref, blob } = await encrypted(randomBytes(2000));
    await refused(blob, { ...ref, key: new Uint8Array(randomBytes(32)) }, 'tag-mismatch');
    await refused(blob, { ...ref, nonce: new Uint8Array(randomBytes(12)) }, 'tag-mismatch');
    await refused(blob, { ...ref, key: ref.key.subarray(0, 16) }, 'tag-mismatch');
  });

  it('refuses a wrong sha256 with hash-mismatch and a wrong enc-sha256 with enc-hash-mismatch', async () => {
    const { ref, blob } = await encrypted(randomBytes(2000));
    await refused(blob, { ...ref, sha256: sha(Buffer.from('something else')) }, 'hash-mismatch');
    await refused(blob, { ...ref, encSha256: sha(Buffer.from('something else')) }, 'enc-hash-mismatch');
  });

  it('refuses a wrong size with size-mismatch, stopping early when the blob runs past it', async () => {
    const { ref, blob } = await encrypted(randomBytes(2000));
    await refused(blob, { ...ref, size: 2001 }, 'size-mismatch');
    await refused(blob, { ...ref, size: 1999 }, 'size-mismatch');
    // An endless blob is abandoned once past the declared size (plus the streams' read-ahead).
    let pulled = 0;
    const endless = new Readable({ read() { pulled += 1; this.push(Buffer.alloc(1000)); } });
    const err = await decryptVerified(endless, { ...ref, size: 10 }, temp).catch((e: unknown) => e);
    expect((err as MediaError).code).toBe('size-mismatch');
    expect(pulled * 1000).toBeLessThan(128 * 1024);
    expect(endless.destroyed).toBe(true);
  });

  it('refuses a truncated blob', async () => {
    const { ref, blob } = await encrypted(randomBytes(2000));
    await refused(blob.subarray(0, 1000), ref, 'enc-hash-mismatch');
    await refused(blob.subarray(0, 10), { ...ref, encSha256: sha(blob.subarray(0, 10)) }, 'tag-mismatch');
  });

  it('passes on a source error and removes the partial file', async () => {
    const { ref, blob } = await encrypted(randomBytes(5000));
    const broken = Readable.from((async function* () {
      yield blob.subarray(0, 3000);
      throw new MediaError('timeout', 'stalled');
    })());
    const before = await readdir(temp.dir);
    const err = await decryptVerified(broken, ref, temp).catch((e: unknown) => e);
    expect((err as MediaError).code).toBe('timeout');
    expect(await readdir(temp.dir)).toEqual(before);
  });
});
