// Inbound content the provider cannot show (Capabilities): media down the chain (voice → audio →
// document → a line of text), fallbacks appended for the provider, and the inbound feature rules
// when the hub user's app downgraded several features.
import { describe, expect, it } from 'vitest';
import type { Capabilities } from '../../adapters/contract.ts';
import { downgradeInbound } from '../../src/policy/index.ts';
import { bytes, DEFAULT_RULES, inbound, rulesFromYaml } from './helpers.ts';

const caps = (media: Capabilities['media']): Capabilities => ({ media, receipts: true, features: [] });
const voice = { kind: 'voice' as const, mime: 'audio/ogg; codecs=opus', size: 12_345, durationMs: 7_400, data: bytes(4) };

describe('inbound media the provider cannot show', () => {
  it('a kind the provider shows is delivered untouched', () => {
    const m = inbound({ media: voice });
    expect(downgradeInbound(m, caps(['voice']), DEFAULT_RULES)).toEqual({ kind: 'deliver', message: m, downgraded: [] });
  });

  it('voice → audio', () => {
    const d = downgradeInbound(inbound({ media: voice }), caps(['audio', 'document']), DEFAULT_RULES);
    expect(d).toEqual({
      kind: 'deliver',
      message: inbound({ media: { ...voice, kind: 'audio' }, fallbacks: [{ feature: 'voice', text: 'Voice message, shown as audio' }] }),
      downgraded: [{ feature: 'voice', to: 'audio' }],
    });
  });

  it('voice → document, with a file name made from its type', () => {
    const d = downgradeInbound(inbound({ media: voice }), caps(['document']), DEFAULT_RULES);
    expect(d).toMatchObject({ kind: 'deliver', message: { media: { kind: 'document', filename: 'voice.ogg' } }, downgraded: [{ feature: 'voice', to: 'document' }] });
  });

  it('no media at all: a line of text naming it, after the message text, with its caption', () => {
    const photo = { kind: 'image' as const, mime: 'image/jpeg', size: 1_234_567, filename: 'IMG_0001.jpg', caption: 'Sunset', width: 10, height: 10, data: bytes(2) };
    const d = downgradeInbound(inbound({ text: 'Look!', media: photo, fallbacks: [{ feature: 'other', text: 'x' }] }), caps([]), DEFAULT_RULES);
    expect(d).toEqual({
      kind: 'deliver',
      message: inbound({
        text: 'Look!\n📎 Photo: IMG_0001.jpg (1.2 MB)\nSunset',
        fallbacks: [{ feature: 'other', text: 'x' }, { feature: 'image', text: 'Photo that this app cannot show, described as text' }],
      }),
      downgraded: [{ feature: 'image', to: 'text' }],
    });
  });

  it('a voice message as text gives its length', () => {
    const d = downgradeInbound(inbound({ media: voice }), caps(['image']), DEFAULT_RULES);
    expect(d).toMatchObject({ kind: 'deliver', message: { text: '📎 Voice message (0:07, 12 KB)' } });
    if (d.kind !== 'deliver') throw new Error('unreachable');
    expect(d.message.media).toBeUndefined();
  });
});

describe('inbound feature rules', () => {
  const both = inbound({ text: 'x', fallbacks: [{ feature: 'sticker', text: 'Sticker' }, { feature: 'view-once', text: 'View once' }] });

  it('with several fallbacks, a reject wins over a drop, and a drop over a convert', () => {
    expect(downgradeInbound(both, caps([]), DEFAULT_RULES)).toMatchObject({ kind: 'reject', reason: 'view-once', feature: 'view-once' });
    const dropSticker = rulesFromYaml("policy:\n  downgrade:\n    sticker: { inbound: { action: drop } }\n    view-once: { inbound: { action: convert } }\n");
    expect(downgradeInbound(both, caps([]), dropSticker)).toEqual({ kind: 'drop', reason: 'dropped-by-policy', feature: 'sticker' });
  });

  it('the view-once notice says why', () => {
    const d = downgradeInbound(both, caps([]), DEFAULT_RULES);
    expect(d).toMatchObject({
      notice: 'A contact on another network sent you view-once media. It is not shown here, because this app cannot make sure it is viewed only once.',
    });
  });

  it('fallbacks for features this version does not know are delivered', () => {
    const m = inbound({ text: 'x', fallbacks: [{ feature: 'gif', text: 'GIF' }] });
    expect(downgradeInbound(m, caps([]), DEFAULT_RULES)).toEqual({ kind: 'deliver', message: m, downgraded: [] });
  });

  it('rules run before media: a rejected message is not converted', () => {
    const m = inbound({ media: voice, fallbacks: [{ feature: 'call', text: 'Call' }] });
    expect(downgradeInbound(m, caps([]), DEFAULT_RULES)).toMatchObject({ kind: 'reject', feature: 'call', notice: 'A contact on another network sent you a call, which cannot be shown here.' });
  });
});
