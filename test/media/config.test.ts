// The `media:` config section and the service built from it (fs and S3 stores), including an S3
// round trip through MediaService against the in-process S3 server.
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Hono } from 'hono';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMediaService, deriveUrlSecret, mediaConfigSchema } from '../../src/media/index.ts';
import { png, sha256 } from './support/fixtures.ts';
import { serveApp } from './support/http.ts';
import { startTestS3, type TestS3 } from './support/s3-server.ts';
import { SPEC_LIMITS } from './support/service-env.ts';

let dir: string;
let s3: TestS3;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'causeway-mcfg-'));
  s3 = await startTestS3('causeway-media', 'AKIDCFG');
});
afterAll(async () => {
  await s3.close();
  await rm(dir, { recursive: true, force: true });
});

describe('mediaConfigSchema', () => {
  it('has defaults for everything', () => {
    expect(mediaConfigSchema.parse(undefined)).toEqual({
      store: { type: 'fs', dir: 'data/media' },
      url_ttl_s: 2_592_000,
      fetch_timeout_ms: 120_000,
      max_fetch_bytes: 104_857_600,
      allow_private_addresses: false,
      check_inbound_mime: true,
      sweep_interval_s: 3600,
    });
  });

  it('takes an S3 store with secrets from the environment', () => {
    process.env.CW_TEST_S3_SECRET = 'env-secret';
    const c = mediaConfigSchema.parse({
      store: { type: 's3', endpoint: 'http://minio:9000', bucket: 'causeway-media', access_key_id: 'AKID', secret_access_key: { env: 'CW_TEST_S3_SECRET' }, force_path_style: true },
    });
    expect(c.store).toMatchObject({ type: 's3', region: 'us-east-1', bucket: 'causeway-media', force_path_style: true, prefix: '' });
    expect(c.store.type === 's3' && c.store.secret_access_key.reveal()).toBe('env-secret');
    expect(JSON.stringify(c)).not.toContain('env-secret');
  });

  it('reports bad values with their paths', () => {
    const r = mediaConfigSchema.safeParse({ store: { type: 's3', bucket: 'Bad_Bucket', access_key_id: 'a', secret_access_key: 'b', endpoint: 'ftp://x' }, url_secret: 'short', url_ttl_s: 0, extra: 1 });
    expect(r.success).toBe(false);
    const paths = r.error?.issues.map((i) => i.path.join('.')) ?? [];
    expect(paths).toEqual(expect.arrayContaining(['store.bucket', 'store.endpoint', 'url_secret', 'url_ttl_s']));
    expect(r.error?.issues.some((i) => i.code === 'unrecognized_keys')).toBe(true);
    expect(mediaConfigSchema.safeParse({ store: { type: 'gcs' } }).success).toBe(false);
  });
});

describe('createMediaService', () => {
  it('needs a URL secret from the config or the caller', () => {
    expect(() => createMediaService(mediaConfigSchema.parse({}), { publicBaseUrl: 'https://cw.example', limits: SPEC_LIMITS })).toThrow(/url_secret/);
    const derived = deriveUrlSecret(randomBytes(32));
    expect(derived.length).toBe(32);
    expect(deriveUrlSecret(Buffer.alloc(32, 1))).toEqual(deriveUrlSecret(Buffer.alloc(32, 1)));
  });

  it('builds an S3-backed service whose media round-trips through the bucket', async () => {
    const config = mediaConfigSchema.parse({
      store: { type: 's3', endpoint: s3.url, bucket: 'causeway-media', access_key_id: 'AKIDCFG', secret_access_key: 'sekret', force_path_style: true, prefix: 'media/' },
      url_secret: 'x'.repeat(40),
      tmp_dir: join(dir, 'tmp'),
      allow_private_addresses: true,
      sweep_interval_s: 0,
    });
    let routes = new Hono();
    const shell = new Hono();
    shell.all('*', (c) => routes.fetch(c.req.raw));
    const server = await serveApp(shell);
    const media = createMediaService(config, { publicBaseUrl: server.url, limits: SPEC_LIMITS });
    routes = media.routes();
    try {
      const bytes = png(12, 9);
      const { ref, blobKey } = await media.prepareOutbound({ kind: 'image', declaredMime: 'image/png', source: bytes });
      expect(s3.objects.get(`media/${blobKey}`)?.body.length).toBe(bytes.length + 16);
      const inbound = await media.fetchInbound(ref);
      expect(sha256(await readFile(inbound.path))).toEqual(sha256(bytes));
      expect([inbound.width, inbound.height]).toEqual([12, 9]);
      await inbound.dispose();
      await media.deleteBlob(blobKey);
      expect(s3.objects.has(`media/${blobKey}`)).toBe(false);
      expect((await fetch(ref.url)).status).toBe(404);
    } finally {
      await media.close();
      await server.close();
    }
  });

  it('signs URLs under the public base URL', async () => {
    const config = mediaConfigSchema.parse({ store: { type: 's3', bucket: 'abc', access_key_id: 'a', secret_access_key: 'b' }, url_secret: 'y'.repeat(32) });
    const media = createMediaService(config, { publicBaseUrl: 'https://cw.example', limits: SPEC_LIMITS });
    expect(media.urlFor('abcdefgh', 2_000_000_000)).toMatch(/^https:\/\/cw\.example\/media\/abcdefgh\.[0-9a-z]+\.[A-Za-z0-9_-]{43}$/);
    await media.close();
  });
});
