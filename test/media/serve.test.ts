// The media routes driven in-process with app.request(): tokens (valid, expired, forged: one 404
// for all), ranges (206, suffix, open-ended, multi-range ignored, 416), HEAD, If-Range, headers.
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FsBlobStore } from '../../src/media/fs-blob-store.ts';
import { parseRange } from '../../src/media/range.ts';
import { mediaRoutes } from '../../src/media/serve.ts';
import { UrlSigner } from '../../src/media/url-token.ts';

const NOW = 1_763_800_000;
const BLOB = Buffer.from(Array.from({ length: 1000 }, (_, i) => i % 251));
let dir: string;
let store: FsBlobStore;
const signer = new UrlSigner(randomBytes(32));
const app = () => mediaRoutes({ store, signer, nowS: () => NOW });
const token = signer.sign('blob-serve-1', NOW + 600);

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'causeway-serve-'));
  store = new FsBlobStore(dir);
  await store.put('blob-serve-1', Readable.from([BLOB]));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

const get = (t: string, headers: Record<string, string> = {}, method = 'GET') => app().request(`/media/${t}`, { method, headers });

describe('GET /media/{token}', () => {
  it('serves the whole blob, private and uncacheable by shared caches', async () => {
    const res = await get(token);
    expect(res.status).toBe(200);
    expect(Buffer.from(await res.arrayBuffer())).toEqual(BLOB);
    expect(res.headers.get('content-length')).toBe('1000');
    expect(res.headers.get('content-type')).toBe('application/octet-stream');
    expect(res.headers.get('accept-ranges')).toBe('bytes');
    expect(res.headers.get('cache-control')).toBe('private, no-transform, max-age=600');
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
  });

  it('serves single ranges with 206 and Content-Range', async () => {
    for (const [range, start, end] of [['bytes=0-99', 0, 99], ['bytes=900-', 900, 999], ['bytes=-10', 990, 999], ['bytes=990-5000', 990, 999], ['bytes=5-5', 5, 5]] as const) {
      const res = await get(token, { range });
      expect([range, res.status]).toEqual([range, 206]);
      expect(res.headers.get('content-range')).toBe(`bytes ${start}-${end}/1000`);
      expect(res.headers.get('content-length')).toBe(String(end - start + 1));
      expect(Buffer.from(await res.arrayBuffer())).toEqual(BLOB.subarray(start, end + 1));
    }
  });

  it('answers 416 with the size for unsatisfiable or malformed ranges', async () => {
    for (const range of ['bytes=1000-', 'bytes=1000-1001', 'bytes=5-2', 'bytes=-0', 'bytes=abc', 'bytes=-']) {
      const res = await get(token, { range });
      expect([range, res.status, res.headers.get('content-range')]).toEqual([range, 416, 'bytes */1000']);
    }
  });

  it('ignores multi-range requests, other units and a stale If-Range (whole blob, 200)', async () => {
    expect((await get(token, { range: 'bytes=0-1,5-6' })).status).toBe(200);
    expect((await get(token, { range: 'items=0-1' })).status).toBe(200);
    const etag = (await get(token)).headers.get('etag') ?? '';
    expect((await get(token, { range: 'bytes=0-1', 'if-range': etag })).status).toBe(206);
    expect((await get(token, { range: 'bytes=0-1', 'if-range': '"other"' })).status).toBe(200);
  });

  it('answers HEAD with the headers and no body', async () => {
    const res = await get(token, {}, 'HEAD');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-length')).toBe('1000');
    expect((await res.arrayBuffer()).byteLength).toBe(0);
    const part = await get(token, { range: 'bytes=10-19' }, 'HEAD');
    expect([part.status, part.headers.get('content-range')]).toEqual([206, 'bytes 10-19/1000']);
  });

  it('gives the same 404 for expired, forged, malformed and deleted', async () => {
    const [key, exp, mac] = token.split('.') as [string, string, string];
    const flip = (s: string) => (s[0] === 'A' ? 'B' : 'A') + s.slice(1);
    const bad = [
      signer.sign('blob-serve-1', NOW), // expires now
      signer.sign('blob-serve-1', NOW - 1),
      `${key}.${(NOW + 100_000).toString(36)}.${mac}`, // expiry extended
      `blob-serve-2.${exp}.${mac}`, // another key
      `${key}.${exp}.${flip(mac)}`,
      new UrlSigner(randomBytes(32)).sign('blob-serve-1', NOW + 600), // another secret
      'blob-serve-1',
      '..%2F..%2Fetc%2Fpasswd',
      signer.sign('blob-never-stored', NOW + 600),
    ];
    const answers = await Promise.all(bad.map(async (t) => {
      const res = await get(t);
      return [res.status, await res.text()];
    }));
    expect(answers).toEqual(bad.map(() => [404, 'not found\n']));
    await store.put('blob-serve-3', Readable.from([BLOB]));
    const t3 = signer.sign('blob-serve-3', NOW + 600);
    expect((await get(t3)).status).toBe(200);
    await store.delete('blob-serve-3');
    expect((await get(t3)).status).toBe(404);
  });
});

describe('UrlSigner', () => {
  it('needs a 32-byte secret and a valid key', () => {
    expect(() => new UrlSigner(randomBytes(16))).toThrow(/32 bytes/);
    expect(() => signer.sign('../x/abcdef', NOW)).toThrow(/blob key/);
    expect(signer.verify(token, NOW)).toBe('blob-serve-1');
    expect(signer.verify(token, NOW + 600)).toBeUndefined();
  });
});

describe('parseRange', () => {
  it('handles the RFC 9110 forms', () => {
    expect(parseRange(undefined, 10)).toEqual({ kind: 'full' });
    expect(parseRange('bytes=-20', 10)).toEqual({ kind: 'partial', start: 0, end: 9 });
    expect(parseRange('Bytes = 2-3', 10)).toEqual({ kind: 'partial', start: 2, end: 3 });
    expect(parseRange('bytes=99999999999999999999-', 10)).toEqual({ kind: 'unsatisfiable' });
  });
});
