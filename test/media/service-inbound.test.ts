// MediaService inbound: every refusal of a hub user's media (never handed over, nothing left in
// temp), interop with the mock hub's media code in both directions, and expiry/sweeping.
import { createHash } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { decryptMedia, encryptMedia, fetchCapped } from '../../src/mock-hub/media.ts';
import type { MediaRef } from '../../src/protocol/types.ts';
import { mockHubHost, refusedWith } from './support/assert.ts';
import { jpeg, oggOpus, pdf, png } from './support/fixtures.ts';
import { serveRaw } from './support/http.ts';
import { useServiceEnv } from './support/service-env.ts';

const env = useServiceEnv({ tempEmptyAfterEach: true });

describe('inbound refusals (never handed over)', () => {
  async function prepared(bytes = png(32, 32)) {
    return env.media.prepareOutbound({ kind: 'image', declaredMime: 'image/png', source: bytes });
  }

  it('a tampered blob (one flipped byte in the store)', async () => {
    const { ref, blobKey } = await prepared();
    const path = join(env.dir, 'store', 'blobs', blobKey.slice(0, 2), blobKey);
    const blob = await readFile(path);
    blob[100] = (blob[100] ?? 0) ^ 0x01;
    await writeFile(path, blob);
    await refusedWith(env.media.fetchInbound(ref), 'enc-hash-mismatch');
  });

  it('a wrong sha256, enc-sha256 or size in the ref', async () => {
    const { ref } = await prepared();
    const other = new Uint8Array(createHash('sha256').update('x').digest());
    await refusedWith(env.media.fetchInbound({ ...ref, sha256: other }), 'hash-mismatch');
    await refusedWith(env.media.fetchInbound({ ...ref, encSha256: other }), 'enc-hash-mismatch');
    await refusedWith(env.media.fetchInbound({ ...ref, size: ref.size + 1 }), 'size-mismatch');
    await refusedWith(env.media.fetchInbound({ ...ref, size: ref.size - 1 }), 'size-mismatch');
    await refusedWith(env.media.fetchInbound({ ...ref, key: ref.key.subarray(1) }), 'tag-mismatch');
  });

  it('a declared size over the kind limit is refused without fetching', async () => {
    const { ref } = await prepared();
    let hits = 0;
    const server = await serveRaw((_req, res) => { hits += 1; res.writeHead(404).end(); });
    try {
      await refusedWith(env.media.fetchInbound({ ...ref, size: (16 << 20) + 1, url: server.url }), 'too-large');
      expect(hits).toBe(0);
    } finally {
      await server.close();
    }
  });

  it('a hub answering with more bytes than declared (Content-Length or counted)', async () => {
    const plain = png(20, 20);
    const enc = encryptMedia(plain);
    const padded = Buffer.concat([Buffer.from(enc.blob), Buffer.alloc(100)]);
    const server = await serveRaw((req, res) => {
      if (req.url === '/cl') res.writeHead(200, { 'content-length': padded.length }).end(padded);
      else { res.writeHead(200); res.end(padded); }
    });
    try {
      const ref: MediaRef = { kind: 'image', mime: 'image/png', size: plain.length, sha256: enc.sha256, encSha256: enc.encSha256, key: enc.key, nonce: enc.nonce, url: `${server.url}/cl` };
      expect((await refusedWith(env.media.fetchInbound(ref), 'size-mismatch')).message).toContain('larger than its declared size');
      await refusedWith(env.media.fetchInbound({ ...ref, url: `${server.url}/chunked` }), 'size-mismatch');
    } finally {
      await server.close();
    }
  });

  it('a MIME mismatch: the hub user declared an image, the content is a PDF', async () => {
    const enc = encryptMedia(pdf());
    const hub = await mockHubHost(enc.blob);
    try {
      const ref: MediaRef = { kind: 'image', mime: 'image/jpeg', size: pdf().length, sha256: enc.sha256, encSha256: enc.encSha256, key: enc.key, nonce: enc.nonce, url: hub.url };
      await refusedWith(env.media.fetchInbound(ref), 'mime-mismatch');
    } finally {
      await hub.close();
    }
  });

  it('an expired URL is a fetch failure (404), a missing host a retryable one', async () => {
    const { ref } = await prepared();
    const saved = env.clock.nowMs;
    env.clock.nowMs += 3601_000;
    try {
      const err = await refusedWith(env.media.fetchInbound(ref), 'fetch-failed');
      expect([err.message.endsWith('HTTP 404'), err.retryable]).toEqual([true, false]);
    } finally {
      env.clock.nowMs = saved;
    }
    expect((await refusedWith(env.media.fetchInbound({ ...ref, url: 'http://127.0.0.1:1/x' }), 'fetch-failed')).retryable).toBe(true);
  });
});

describe('interop with the mock hub media code', () => {
  it("the hub's media proxy fetches and verifies what Causeway serves", async () => {
    const bytes = jpeg(16, 16);
    const { ref } = await env.media.prepareOutbound({ kind: 'image', declaredMime: 'image/jpeg', source: bytes });
    const blob = await fetchCapped(ref.url, 16 << 20, AbortSignal.timeout(5000));
    expect(Buffer.from(decryptMedia(ref, blob))).toEqual(bytes);
  });

  it('Causeway fetches and verifies a blob hosted the way the mock hub hosts it', async () => {
    const bytes = oggOpus(2);
    const enc = encryptMedia(bytes);
    const hub = await mockHubHost(enc.blob);
    try {
      const ref: MediaRef = { kind: 'voice', mime: 'audio/ogg; codecs=opus', size: bytes.length, sha256: enc.sha256, encSha256: enc.encSha256, key: enc.key, nonce: enc.nonce, url: hub.url, durationMs: 2000 };
      const inbound = await env.media.fetchInbound(ref);
      expect(await readFile(inbound.path)).toEqual(bytes);
      expect([inbound.kind, inbound.durationMs]).toEqual(['voice', 2000]);
      await inbound.dispose();
    } finally {
      await hub.close();
    }
  });
});

describe('expiry and sweeping', () => {
  it('blobs are swept once their URL expired (plus grace), not before', async () => {
    env.clock.nowMs = Date.now(); // the fs store dates blobs by the real clock
    const { ref, blobKey } = await env.media.prepareOutbound({ kind: 'document', declaredMime: 'text/plain', source: Buffer.from('sweep me') });
    expect((await env.media.sweep()).blobs).toBe(0);
    expect(await env.store.stat(blobKey)).toBeDefined();
    const saved = env.clock.nowMs;
    env.clock.nowMs += (3600 + 3600 + 1) * 1000;
    try {
      expect((await env.media.sweep()).blobs).toBeGreaterThanOrEqual(1);
      expect(await env.store.stat(blobKey)).toBeUndefined();
      expect((await fetch(ref.url)).status).toBe(404);
    } finally {
      env.clock.nowMs = saved;
    }
  });
});
