// One conformance suite for every BlobStore (as BullMQ runs one suite per backend): the filesystem
// store on a temp dir, and the S3 store against an in-process S3-compatible server. Plus what is
// specific to each: atomic writes and key validation (fs), known-length PutObject without
// aws-chunked bodies and spooling of unknown lengths (S3).
import { mkdtemp, readdir, rm, utimes } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { text } from 'node:stream/consumers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BlobNotFoundError, type BlobStore } from '../../src/media/blob-store.ts';
import { FsBlobStore } from '../../src/media/fs-blob-store.ts';
import { S3BlobStore } from '../../src/media/s3-blob-store.ts';
import { startTestS3, type TestS3 } from './support/s3-server.ts';

const bytes = (s: string) => Readable.from([Buffer.from(s)]);
const read = async (p: Promise<{ stream: Readable; size: number }>) => {
  const { stream, size } = await p;
  return { body: await text(stream), size };
};

function conformance(name: string, make: () => BlobStore) {
  describe(`${name}: BlobStore conformance`, () => {
    it('stores, reads, stats and deletes a blob', async () => {
      const s = make();
      expect(await s.put('blob-0001', bytes('hello media'))).toEqual({ size: 11 });
      expect(await read(s.get('blob-0001'))).toEqual({ body: 'hello media', size: 11 });
      expect((await s.stat('blob-0001'))?.size).toBe(11);
      await s.delete('blob-0001');
      expect(await s.stat('blob-0001')).toBeUndefined();
      await expect(s.get('blob-0001')).rejects.toBeInstanceOf(BlobNotFoundError);
      await s.delete('blob-0001'); // missing: not an error
    });

    it('reads inclusive ranges and reports the whole size', async () => {
      const s = make();
      await s.put('blob-0002', bytes('0123456789'), { size: 10 });
      expect(await read(s.get('blob-0002', { start: 2, end: 5 }))).toEqual({ body: '2345', size: 10 });
      expect(await read(s.get('blob-0002', { start: 9, end: 9 }))).toEqual({ body: '9', size: 10 });
      await expect(s.get('blob-0002', { start: 10, end: 12 })).rejects.toBeInstanceOf(RangeError);
    });

    it('streams several chunks and overwrites an existing key', async () => {
      const s = make();
      const chunks = Array.from({ length: 50 }, (_, i) => Buffer.alloc(1000, 65 + (i % 26)));
      expect(await s.put('blob-0003', Readable.from(chunks))).toEqual({ size: 50_000 });
      const { body } = await read(s.get('blob-0003'));
      expect(body.length).toBe(50_000);
      expect(body.slice(999, 1001)).toBe('AB');
      await s.put('blob-0003', bytes('short'));
      expect(await read(s.get('blob-0003'))).toEqual({ body: 'short', size: 5 });
    });

    it('fails a put whose source is shorter or longer than announced, storing nothing', async () => {
      const s = make();
      await expect(s.put('blob-0004', bytes('abc'), { size: 4 })).rejects.toThrow(/announced/);
      await expect(s.put('blob-0004', bytes('abcde'), { size: 4 })).rejects.toThrow(/announced/);
      expect(await s.stat('blob-0004')).toBeUndefined();
    });

    it('fails a put whose source errors, storing nothing', async () => {
      const s = make();
      const broken = Readable.from((async function* () {
        yield Buffer.from('partial');
        throw new Error('source broke');
      })());
      await expect(s.put('blob-0005', broken)).rejects.toThrow('source broke');
      expect(await s.stat('blob-0005')).toBeUndefined();
    });

    it('refuses keys that could escape the store', async () => {
      const s = make();
      for (const key of ['../../etc/passwd', 'a/b/cdefghij', 'short', '..........', 'x'.repeat(129), 'abc def ghi']) {
        await expect(s.put(key, bytes('x'))).rejects.toThrow(/invalid blob key/);
        await expect(s.get(key)).rejects.toThrow(/invalid blob key/);
      }
    });
  });
}

let dir: string;
let s3: TestS3;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'causeway-blob-'));
  s3 = await startTestS3('media-bucket', 'AKIDTEST');
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
  await s3.close();
});

const s3Store = () => new S3BlobStore({ endpoint: s3.url, region: 'eu-west-1', bucket: 'media-bucket', accessKeyId: 'AKIDTEST', secretAccessKey: 'secret', forcePathStyle: true, prefix: 'm/', tmpDir: join(dir, 's3tmp') });

conformance('FsBlobStore', () => new FsBlobStore(join(dir, 'fs')));
conformance('S3BlobStore', s3Store);

describe('FsBlobStore specifics', () => {
  it('writes through a temp file: nothing is left in tmp after puts, failed or not', async () => {
    const root = join(dir, 'atomic');
    const s = new FsBlobStore(root);
    await s.put('atomic-01', bytes('ok'));
    await s.put('atomic-02', bytes('abc'), { size: 9 }).catch(() => undefined);
    expect(await readdir(join(root, 'tmp'))).toEqual([]);
    expect(await readdir(join(root, 'blobs', 'at'))).toEqual(['atomic-01']);
  });

  it('sweeps blobs stored before a time', async () => {
    const root = join(dir, 'sweep');
    const s = new FsBlobStore(root);
    await s.put('old-blob-1', bytes('old'));
    await s.put('new-blob-1', bytes('new'));
    const past = new Date(Date.now() - 3_600_000);
    await utimes(join(root, 'blobs', 'ol', 'old-blob-1'), past, past);
    expect(await s.sweep(Date.now() - 60_000)).toBe(1);
    expect(await s.stat('old-blob-1')).toBeUndefined();
    expect(await s.stat('new-blob-1')).toBeDefined();
  });
});

describe('S3BlobStore specifics', () => {
  it('sends PutObject with a known length and no aws-chunked encoding, path-style under the prefix', async () => {
    const s = s3Store();
    s3.requests.length = 0;
    await s.put('s3-known-1', bytes('0123456789'), { size: 10 });
    const put = s3.requests.find((r) => r.method === 'PUT');
    expect(put?.path).toBe('/media-bucket/m/s3-known-1');
    expect(put?.headers['content-length']).toBe('10');
    expect(put?.headers['content-encoding'] ?? '').not.toContain('aws-chunked');
    expect(s3.objects.get('m/s3-known-1')?.body.toString()).toBe('0123456789');
  });

  it('spools a put of unknown length to learn it, then removes the spool file', async () => {
    const s = s3Store();
    const chunks = Array.from({ length: 20 }, () => Buffer.alloc(4096, 7));
    expect(await s.put('s3-spool-1', Readable.from(chunks))).toEqual({ size: 81_920 });
    expect(s3.objects.get('m/s3-spool-1')?.body.length).toBe(81_920);
    expect(await readdir(join(dir, 's3tmp'))).toEqual([]);
  });

  it('reports a wrong access key as an error, not as a missing blob', async () => {
    const s = new S3BlobStore({ endpoint: s3.url, region: 'eu-west-1', bucket: 'media-bucket', accessKeyId: 'WRONG', secretAccessKey: 'x', forcePathStyle: true });
    await expect(s.stat('s3-known-1')).rejects.toThrow();
    await expect(s.get('s3-known-1')).rejects.not.toBeInstanceOf(BlobNotFoundError);
  });
});
