// A MediaService on a temp dir, its routes served on a loopback port (the URL that goes into
// `<media url>`), and helpers to inspect what it left behind; useServiceEnv starts one for the
// tests of a file.
import { randomBytes } from 'node:crypto';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Hono } from 'hono';
import { afterAll, afterEach, beforeAll, expect } from 'vitest';
import type { BlobStore } from '../../../src/media/blob-store.ts';
import { FsBlobStore } from '../../../src/media/fs-blob-store.ts';
import { MediaService, type MediaServiceOptions } from '../../../src/media/service.ts';
import type { MediaKind } from '../../../src/protocol/types.ts';
import { serveApp } from './http.ts';

export const SPEC_LIMITS: Record<MediaKind, number> = { image: 16 << 20, video: 64 << 20, audio: 16 << 20, voice: 16 << 20, document: 100 << 20 };

export interface ServiceEnv {
  dir: string;
  base: string;
  media: MediaService;
  store: BlobStore;
  clock: { nowMs: number };
  /** Files in the private temp dir (should be none between operations). */
  tempFiles(): Promise<string[]>;
  close(): Promise<void>;
}

export async function serviceEnv(o: Partial<MediaServiceOptions> & { storeFor?: (dir: string) => BlobStore } = {}): Promise<ServiceEnv> {
  const { storeFor, ...options } = o;
  const dir = await mkdtemp(join(tmpdir(), 'causeway-media-'));
  const store = storeFor?.(dir) ?? new FsBlobStore(join(dir, 'store'));
  const clock = { nowMs: Date.now() };
  let routes = new Hono();
  const shell = new Hono();
  shell.all('*', (c) => routes.fetch(c.req.raw));
  const server = await serveApp(shell);
  const media = new MediaService({
    store,
    publicBaseUrl: `${server.url}/`,
    urlSecret: randomBytes(32),
    urlTtlS: 3600,
    limits: SPEC_LIMITS,
    fetchTimeoutMs: 5000,
    maxFetchBytes: 100 << 20,
    tmpDir: join(dir, 'tmp'),
    allowPrivateAddresses: true,
    nowMs: () => clock.nowMs,
    ...options,
  });
  routes = media.routes();
  return {
    dir,
    base: server.url,
    media,
    store,
    clock,
    tempFiles: () => readdir(join(dir, 'tmp')).catch(() => []),
    close: async () => {
      await media.close();
      await server.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/**
 * A default ServiceEnv for the tests of a file (or describe block): started before them, closed
 * after them; with `tempEmptyAfterEach`, every test is checked to leave nothing in the temp dir.
 * The object is filled in when it has started: use it inside tests and hooks.
 */
export function useServiceEnv(o: { tempEmptyAfterEach?: boolean } = {}): ServiceEnv {
  const env = {} as ServiceEnv;
  beforeAll(async () => {
    Object.assign(env, await serviceEnv());
  });
  afterAll(() => env.close());
  if (o.tempEmptyAfterEach === true) {
    afterEach(async () => {
      expect(await env.tempFiles()).toEqual([]);
    });
  }
  return env;
}
