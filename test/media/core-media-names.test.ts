// CoreMedia (src/core-media.ts) between the adapters and the media service: file names reach the
// hub and the adapter sanitised on every path, and an inbound attachment the re-hosting refuses is
// withheld with a notice instead of failing the hand-over (which the inbound queue would retry
// until it gives up, losing the message). Redis and the keyring are stand-ins: only the upload
// record's round trip is used.
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import type { Connector, InboundMessage, Notice } from '../../adapters/contract.ts';
import { CoreMedia, type CoreMediaOptions } from '../../src/core-media.ts';
import { encryptToStore } from '../../src/media/encrypt.ts';
import type { MediaRef } from '../../src/protocol/types.ts';
import { pdf, png } from './support/fixtures.ts';
import { serviceEnv, useServiceEnv, type ServiceEnv } from './support/service-env.ts';

const SNEAKY = '../../etc/inv\u202Efdp.exe\u0007';

function fakeRedis(): CoreMediaOptions['redis'] {
  const hashes = new Map<string, Map<string, Buffer>>();
  return {
    hset: async (key: string, field: string, value: Buffer) => {
      const h = hashes.get(key) ?? new Map<string, Buffer>();
      h.set(field, value);
      hashes.set(key, h);
      return 1;
    },
    expire: async () => 1,
    hgetBuffer: async (key: string, field: string) => hashes.get(key)?.get(field) ?? null,
  } as unknown as CoreMediaOptions['redis'];
}

const keyring = { seal: (b: Uint8Array) => Buffer.from(b), open: (b: Uint8Array) => Buffer.from(b) } as unknown as CoreMediaOptions['keyring'];
const logger = { warn: () => undefined, info: () => undefined, debug: () => undefined } as unknown as CoreMediaOptions['logger'];

function core(env: ServiceEnv): CoreMedia {
  return new CoreMedia({ redis: fakeRedis(), keyring, prefix: `review-${randomBytes(4).toString('hex')}`, media: () => env.media, logger });
}

function connector(): { c: Connector; delivered: InboundMessage[] } {
  const delivered: InboundMessage[] = [];
  const c = { deliver: async (m: InboundMessage) => { delivered.push(m); } } as unknown as Connector;
  return { c, delivered };
}

function inbound(ref: MediaRef, text?: string): InboundMessage {
  return {
    id: 'M1', from: '447700900123@hub', fromDevice: '1', to: 'alice', t: 1763800000, offline: false,
    ...(text !== undefined ? { text } : {}),
    media: { kind: ref.kind, mime: ref.mime, size: ref.size, ...(ref.filename !== undefined ? { filename: ref.filename } : {}) },
  } as InboundMessage;
}

describe('CoreMedia', () => {
  const env = useServiceEnv();

  it('sanitises the file name a provider gives with an uploadId before it goes into <media filename>', async () => {
    const cm = core(env);
    const body = Readable.toWeb(Readable.from([png(8, 8)])) as ReadableStream<Uint8Array>;
    const { uploadId } = await cm.upload({ kind: 'image', mime: 'image/png', filename: 'a.png', body });
    const ref = await cm.prepare({ kind: 'image', mime: 'image/png', uploadId, filename: SNEAKY });
    expect(ref.filename).toBe('invfdp.exe');
  });

  it('hands the adapter the sanitised file name of hub media, not the sender\'s raw one', async () => {
    const cm = core(env);
    const { ref } = await env.media.prepareOutbound({ kind: 'image', declaredMime: 'image/png', source: png(8, 8) });
    const hubRef: MediaRef = { ...ref, filename: SNEAKY };
    const { c, delivered } = connector();
    await cm.deliver('alice', c, inbound(hubRef), hubRef, () => undefined);
    expect(delivered).toHaveLength(1);
    expect(delivered[0]?.media?.filename).toBe('invfdp.exe');
  });

  it('withholds hub media the re-hosting refuses (inbound MIME check off) with a notice, and delivers the text', async () => {
    const loose = await serviceEnv({ checkInboundMime: false });
    try {
      const cm = core(loose);
      // A hub user's "image" that is a PDF: verified (hashes, tag, size), but no image to re-host.
      const blobKey = randomBytes(16).toString('base64url');
      const bytes = pdf();
      const enc = await encryptToStore(Readable.from([bytes]), loose.store, blobKey, { size: bytes.length });
      const ref: MediaRef = {
        kind: 'image', mime: 'image/png', size: enc.size, sha256: enc.sha256, encSha256: enc.encSha256, key: enc.mediaKey, nonce: enc.nonce,
        url: loose.media.urlFor(blobKey, Math.floor(loose.clock.nowMs / 1000) + 600),
      };
      const { c, delivered } = connector();
      const notices: Notice[] = [];
      await cm.deliver('alice', c, inbound(ref, 'see attached'), ref, (n) => notices.push(n));
      expect(notices.map((n) => n.kind)).toEqual(['message-withheld']);
      expect(delivered).toHaveLength(1);
      expect(delivered[0]?.text).toBe('see attached');
      expect(delivered[0]?.media).toBeUndefined();
      expect(await loose.tempFiles()).toEqual([]);
    } finally {
      await loose.close();
    }
  });
});
