// MediaService end to end over loopback HTTP: each kind prepared (checked, encrypted, stored),
// served at its URL, fetched back in ranges and as a hub blob, decrypted and verified
// byte-identical; the outbound refusals of issue 4 with their codes, nothing stored or left in
// temp. Inbound refusals and mock hub interop: service-inbound.test.ts.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { decryptVerified } from '../../src/media/encrypt.ts';
import { TempFiles } from '../../src/media/temp-files.ts';
import { decodeContent, encodeContent } from '../../src/protocol/index.ts';
import type { MediaKind, MediaRef } from '../../src/protocol/types.ts';
import { jpeg, m4a, mp4, oggOpus, pdf, png, sha256 } from './support/fixtures.ts';
import { refusedWith } from './support/assert.ts';
import { serveRaw } from './support/http.ts';
import { serviceEnv, useServiceEnv } from './support/service-env.ts';

const env = useServiceEnv({ tempEmptyAfterEach: true });

/** Downloads the blob at `url` in three ranges and reassembles it. */
async function rangedBlob(url: string, size: number): Promise<Buffer> {
  const cuts = [0, Math.floor(size / 3), Math.floor((2 * size) / 3), size];
  const parts: Buffer[] = [];
  for (let i = 0; i < 3; i += 1) {
    const res = await fetch(url, { headers: { range: `bytes=${cuts[i]}-${(cuts[i + 1] ?? 0) - 1}` } });
    expect(res.status).toBe(206);
    parts.push(Buffer.from(await res.arrayBuffer()));
  }
  return Buffer.concat(parts);
}

const cases: Array<{ name: string; kind: MediaKind; declared: string; bytes: Buffer; expect: Partial<MediaRef> }> = [
  { name: 'PNG image', kind: 'image', declared: 'image/png', bytes: png(64, 48), expect: { mime: 'image/png', width: 64, height: 48 } },
  { name: 'JPEG image', kind: 'image', declared: 'image/jpeg', bytes: jpeg(40, 24), expect: { mime: 'image/jpeg', width: 40, height: 24 } },
  { name: 'MP4 video', kind: 'video', declared: 'video/mp4', bytes: mp4(640, 360, 4200), expect: { mime: 'video/mp4', width: 640, height: 360, durationMs: 4200 } },
  { name: 'M4A audio', kind: 'audio', declared: 'audio/mp4', bytes: m4a(2000), expect: { mime: 'audio/mp4', durationMs: 2000 } },
  { name: 'Opus voice', kind: 'voice', declared: 'audio/ogg; codecs=opus', bytes: oggOpus(3), expect: { mime: 'audio/ogg; codecs=opus', durationMs: 3000 } },
  { name: 'AAC voice', kind: 'voice', declared: 'audio/aac', bytes: m4a(1200), expect: { mime: 'audio/mp4', durationMs: 1200 } },
  { name: 'PDF document', kind: 'document', declared: 'application/pdf', bytes: pdf(), expect: { mime: 'application/pdf' } },
  { name: 'text document', kind: 'document', declared: 'text/plain', bytes: Buffer.from('Grüße aus Causeway\n'.repeat(100)), expect: { mime: 'text/plain' } },
];

describe('round trip of each kind', () => {
  for (const c of cases) {
    it(`${c.name}: prepare → serve (ranges) → decrypt-verify → fetchInbound, byte-identical`, async () => {
      const { ref, blobKey, expiresAtS } = await env.media.prepareOutbound({
        kind: c.kind, declaredMime: c.declared, filename: `dir/${c.name}.bin`, caption: 'look', source: Readable.from([c.bytes.subarray(0, 7), c.bytes.subarray(7)]),
      });
      expect(ref).toMatchObject({ kind: c.kind, size: c.bytes.length, filename: `${c.name}.bin`, caption: 'look', ...c.expect });
      expect(Buffer.from(ref.sha256)).toEqual(sha256(c.bytes));
      expect(ref.url.startsWith(`${env.base}/media/${blobKey}.`)).toBe(true);
      expect(expiresAtS).toBe(Math.floor(env.clock.nowMs / 1000) + 3600);
      // The ref is valid on the wire (spec 11 content codec) and survives it unchanged.
      expect(decodeContent(encodeContent({ id: 'msg-0000001', t: 1_763_800_000, media: ref })).media).toEqual(ref);

      const blob = await rangedBlob(ref.url, c.bytes.length + 16);
      expect(Buffer.from(ref.encSha256)).toEqual(sha256(blob));
      const temp = new TempFiles(join(env.dir, 'check'));
      const verified = await decryptVerified(Readable.from([blob]), ref, temp);
      expect(sha256(await readFile(verified.path))).toEqual(sha256(c.bytes));

      const inbound = await env.media.fetchInbound(ref);
      expect(inbound).toMatchObject({ kind: c.kind, size: c.bytes.length, filename: `${c.name}.bin`, caption: 'look', ...c.expect });
      expect(sha256(await readFile(inbound.path))).toEqual(sha256(c.bytes));
      await inbound.dispose();
    });
  }

  it('voice stays voice in both directions', async () => {
    const { ref } = await env.media.prepareOutbound({ kind: 'voice', declaredMime: 'audio/ogg', source: oggOpus(1) });
    expect(ref.kind).toBe('voice');
    const inbound = await env.media.fetchInbound(ref);
    expect([inbound.kind, inbound.mime]).toEqual(['voice', 'audio/ogg; codecs=opus']);
    await inbound.dispose();
  });

  it('prepares from a web stream (a request body)', async () => {
    const bytes = png(5, 7);
    const { ref } = await env.media.prepareOutbound({ kind: 'image', declaredMime: 'image/png', source: new Blob([bytes]).stream() });
    expect(ref).toMatchObject({ size: bytes.length, width: 5, height: 7 });
  });

  it('prepares from a provider URL, taking the file name from it', async () => {
    const server = await serveRaw((_req, res) => res.writeHead(200, { 'content-type': 'image/png' }).end(png(10, 10)));
    try {
      const { ref } = await env.media.prepareOutbound({ kind: 'image', declaredMime: 'image/png', source: { url: `${server.url}/pics/holiday%201.png?sig=abc` } });
      expect(ref).toMatchObject({ filename: 'holiday 1.png', width: 10, height: 10, size: png(10, 10).length });
    } finally {
      await server.close();
    }
  });
});

describe('outbound refusals (nothing stored)', () => {
  async function storedBlobs(): Promise<number> {
    const { readdir } = await import('node:fs/promises');
    const fan = await readdir(join(env.dir, 'store', 'blobs')).catch(() => []);
    let n = 0;
    for (const d of fan) n += (await readdir(join(env.dir, 'store', 'blobs', d))).length;
    return n;
  }

  it('a MIME mismatch: declared image, content PDF', async () => {
    const before = await storedBlobs();
    const err = await refusedWith(env.media.prepareOutbound({ kind: 'image', declaredMime: 'image/jpeg', source: pdf() }), 'mime-mismatch');
    expect(err.message).toBe('the content is application/pdf, not an image');
    expect(await storedBlobs()).toBe(before);
  });

  it('over the kind limit, as bytes, as a stream and from a URL (counted or by Content-Length)', async () => {
    const small = await serviceEnv({ limits: { image: 1000, video: 1000, audio: 1000, voice: 1000, document: 1000 } });
    const big = png(100, 100);
    const server = await serveRaw((req, res) => {
      if (req.url === '/lying') {
        // Content-Length claims more than the limit: refused before any body byte is read.
        res.writeHead(200, { 'content-length': 5_000_000 });
        res.write(Buffer.alloc(10));
        return;
      }
      res.writeHead(200); // chunked: only counting catches it
      res.end(big);
    });
    try {
      expect(big.length).toBeGreaterThan(1000);
      await refusedWith(small.media.prepareOutbound({ kind: 'image', declaredMime: 'image/png', source: big }), 'too-large');
      await refusedWith(small.media.prepareOutbound({ kind: 'image', declaredMime: 'image/png', source: Readable.from([big]) }), 'too-large');
      await refusedWith(small.media.prepareOutbound({ kind: 'image', declaredMime: 'image/png', source: { url: `${server.url}/counted` } }), 'too-large');
      const lie = await refusedWith(small.media.prepareOutbound({ kind: 'image', declaredMime: 'image/png', source: { url: `${server.url}/lying` } }), 'too-large');
      expect(lie.message).toContain('5000000');
      expect(await small.tempFiles()).toEqual([]);
    } finally {
      await server.close();
      await small.close();
    }
  });

  it('the download cap applies on top of the kind limit', async () => {
    const capped = await serviceEnv({ maxFetchBytes: 500 });
    const server = await serveRaw((_req, res) => res.writeHead(200).end(png(40, 40)));
    try {
      const err = await refusedWith(capped.media.prepareOutbound({ kind: 'image', declaredMime: 'image/png', source: { url: server.url } }), 'too-large');
      expect(err.message).toContain('download limit');
    } finally {
      await server.close();
      await capped.close();
    }
  });

  it('an unknown kind', async () => {
    await refusedWith(env.media.prepareOutbound({ kind: 'sticker' as MediaKind, declaredMime: 'image/webp', source: png(2, 2) }), 'unsupported-kind');
    const stream = Readable.from([png(2, 2)]);
    await refusedWith(env.media.prepareOutbound({ kind: 'sticker' as MediaKind, declaredMime: 'image/webp', source: stream }), 'unsupported-kind');
    expect(stream.destroyed).toBe(true); // released, not left open
  });
});
