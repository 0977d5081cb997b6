// Property tests (fast-check): for any valid feature payload, rules and hub, the engine never throws
// and returns exactly one decision; what it sends is valid spec 11 content (the real codec encodes
// and decodes it) with text of at most 65,536 code points; converted messages always carry their
// fallback and downgraded entries; the same input gives the same decision. Garbage payloads and
// random inbound messages never throw either.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { OutboundMessage } from '../../adapters/contract.ts';
import { decodeContent, encodeContent, MEDIA_KINDS, type Content } from '../../src/protocol/index.ts';
import { downgradeAfter406, downgradeInbound, downgradeOutbound, type Decision } from '../../src/policy/index.ts';
import { codePoints, isXmlText } from '../../src/policy/text.ts';
import { hub, inboundMessage, rules, validFeature } from './arbitraries.ts';
import { CTX, outbound } from './helpers.ts';

const REASONS = ['unsupported-in-interop', 'view-once', 'too-large', 'invalid-feature', 'unknown-feature', 'dropped-by-policy', 'local-only'];

/** Exactly one of the three decision shapes, with its required fields. */
function checkShape(d: Decision): void {
  expect(['send', 'reject', 'drop']).toContain(d.kind);
  if (d.kind === 'send') {
    expect(Object.keys(d).sort()).toEqual(expect.arrayContaining(['downgraded', 'fallbacks', 'kind', 'message']));
    expect(d.message.feature).toBeUndefined();
    const t = d.message.text;
    if (t !== undefined) {
      expect(codePoints(t)).toBeLessThanOrEqual(65_536);
      expect(isXmlText(t)).toBe(true);
    }
  } else {
    expect(REASONS).toContain(d.reason);
    expect(typeof d.message).toBe('string');
    expect(d.message.length).toBeGreaterThan(0);
  }
}

/** The send decision as spec 11 content, through the real codec (media with placeholder keys). */
function roundTrip(d: Extract<Decision, { kind: 'send' }>): void {
  const m = d.message;
  const content: Content = { id: 'CWMSG00001', t: 1_763_800_000 };
  if (m.text !== undefined) content.text = m.text;
  if (m.replyTo !== undefined) content.reply = { to: m.replyTo.id, sender: m.replyTo.sender };
  if (d.fallbacks.length > 0) content.fallbacks = d.fallbacks;
  if (m.media !== undefined) {
    content.media = {
      kind: m.media.kind, mime: m.media.mime, size: m.media.data?.byteLength ?? 1, sha256: new Uint8Array(32), encSha256: new Uint8Array(32),
      key: new Uint8Array(32), nonce: new Uint8Array(12), url: 'https://causeway.birdy.example/media/tok',
      ...(m.media.filename !== undefined ? { filename: m.media.filename } : {}), ...(m.media.caption !== undefined ? { caption: m.media.caption } : {}),
    };
  }
  const back = decodeContent(encodeContent(content, 1));
  expect(back.text).toEqual(content.text);
  expect(back.fallbacks).toEqual(content.fallbacks);
  expect(back.media?.kind).toEqual(content.media?.kind);
}

describe('downgradeOutbound properties', () => {
  it('any valid feature payload: one decision, valid content, fallbacks and downgraded when converted', () => {
    fc.assert(
      fc.property(validFeature, rules, hub, fc.option(fc.constantFrom(...MEDIA_KINDS, 'text', 'sticker'), { nil: undefined }), (feature, r, h, forced) => {
        const msg: OutboundMessage = outbound({ feature });
        const ctx = { ...CTX, ...(h ? { hubFeatures: h } : {}), ...(forced ? { forced } : {}) };
        const d = downgradeOutbound(msg, r, ctx);
        checkShape(d);
        expect(downgradeOutbound(msg, r, ctx)).toEqual(d);
        if (d.kind === 'send') {
          expect(d.fallbacks[0]?.for).toBe(feature.name);
          expect(d.downgraded[0]?.feature).toBe(feature.name);
          expect(d.fallbacks.length).toBe(d.downgraded.length);
          expect(d.message.text !== undefined || d.message.media !== undefined).toBe(true);
          roundTrip(d);
        } else if (d.kind === 'reject') {
          expect(d.reason).not.toBe('unknown-feature');
          // The only valid payloads that cannot be sent: a disappearing message or status update with nothing in it.
          if (d.reason === 'invalid-feature') {
            expect(['disappearing', 'status']).toContain(feature.name);
            expect(feature.data.media).toBeUndefined();
          }
        }
      }),
      { numRuns: 300 },
    );
  });

  it('garbage payloads never throw', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.constantFrom('sticker', 'poll', 'contact', 'delete', 'disappearing', '__proto__')), fc.anything(), rules, (name, data, r) => {
        const d = downgradeOutbound(outbound({ feature: { name, data: data as Record<string, unknown> } }), r, CTX);
        checkShape(d);
        expect(downgradeAfter406(outbound({ feature: { name, data: data as Record<string, unknown> } }), name, r, CTX).kind).toMatch(/^(send|reject|drop)$/);
      }),
      { numRuns: 300 },
    );
  });

  it('the 406 path never throws and never answers a message that declares the refused kind', () => {
    fc.assert(
      fc.property(validFeature, rules, hub, fc.constantFrom(...MEDIA_KINDS, 'text', 'media', 'sticker', 'poll'), fc.boolean(), (feature, r, h, named, resent) => {
        const d = downgradeAfter406(outbound({ feature }), named, r, { ...CTX, ...(h ? { hubFeatures: h } : {}), resent });
        checkShape(d);
        if (resent) expect(d.kind).not.toBe('send');
        if (d.kind === 'send') expect(d.message.media?.kind === named || (named === 'media' && d.message.media !== undefined)).toBe(false);
      }),
      { numRuns: 200 },
    );
  });
});

describe('downgradeInbound properties', () => {
  it('never throws; what it delivers is within the spec 11 limit and only uses kinds the provider shows', () => {
    fc.assert(
      fc.property(inboundMessage, fc.subarray([...MEDIA_KINDS]), rules, (m, media, r) => {
        const d = downgradeInbound(m, { media, receipts: true, features: [] }, r);
        expect(['deliver', 'reject', 'drop']).toContain(d.kind);
        if (d.kind !== 'deliver') return;
        if (d.message.media !== undefined) expect(media).toContain(d.message.media.kind);
        if (d.message.text !== undefined) expect(codePoints(d.message.text)).toBeLessThanOrEqual(65_536);
        if (m.media === undefined || media.includes(m.media.kind)) expect(d.message).toBe(m);
        else expect(d.downgraded).toHaveLength(1);
      }),
      { numRuns: 300 },
    );
  });
});
