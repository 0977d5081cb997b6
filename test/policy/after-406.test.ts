// The 406 path (spec 4: `unsupported-in-interop` → "downgrade per policy and send again, else fail
// permanently"): downgradeAfter406 answers a send decision to be sent again once, or a final reject.
import { describe, expect, it } from 'vitest';
import { downgradeAfter406, featuresFromAnswer } from '../../src/policy/index.ts';
import { bytes, CTX, DEFAULT_RULES, outbound, withFeature } from './helpers.ts';

const voice = { kind: 'voice' as const, mime: 'audio/ogg', data: bytes(5) };

describe('downgradeAfter406', () => {
  it('a voice note refused as voice is sent again as audio', () => {
    expect(downgradeAfter406(outbound({ media: voice }), 'voice', DEFAULT_RULES, CTX)).toEqual({
      kind: 'send',
      message: outbound({ media: { ...voice, kind: 'audio' } }),
      fallbacks: [{ for: 'voice', text: 'Voice message' }],
      downgraded: [{ feature: 'voice', to: 'audio' }],
    });
  });

  it('without <unsupported feature>, the media kind is taken (our stanzas declare nothing else)', () => {
    expect(downgradeAfter406(outbound({ media: voice }), undefined, DEFAULT_RULES, CTX)).toMatchObject({ kind: 'send', message: { media: { kind: 'audio' } } });
  });

  it('a second 406 fails the message for good', () => {
    expect(downgradeAfter406(outbound({ media: { ...voice, kind: 'audio' } }), 'audio', DEFAULT_RULES, { ...CTX, resent: true })).toEqual({
      kind: 'reject',
      reason: 'unsupported-in-interop',
      feature: 'audio',
      message: 'The other network does not accept audio files, even after downgrading.',
    });
  });

  it('a document has nowhere to go', () => {
    const doc = { kind: 'document' as const, mime: 'application/pdf', data: bytes(1) };
    expect(downgradeAfter406(outbound({ media: doc }), 'document', DEFAULT_RULES, CTX)).toEqual({
      kind: 'reject',
      reason: 'unsupported-in-interop',
      feature: 'document',
      message: 'Documents cannot be sent to contacts on other networks.',
    });
  });

  it('a text message refused without a feature, or for a feature it does not declare, fails', () => {
    expect(downgradeAfter406(outbound({ text: 'hi' }), undefined, DEFAULT_RULES, CTX)).toEqual({
      kind: 'reject',
      reason: 'unsupported-in-interop',
      message: 'The other network does not accept this message.',
    });
    expect(downgradeAfter406(outbound({ text: 'hi' }), 'location', DEFAULT_RULES, CTX)).toEqual({
      kind: 'reject',
      reason: 'unsupported-in-interop',
      feature: 'location',
      message: 'The other network does not accept locations, and this message cannot be downgraded further.',
    });
    expect(downgradeAfter406(outbound({ text: 'hi' }), 'gif', DEFAULT_RULES, CTX)).toMatchObject({ kind: 'reject', message: 'The other network does not accept “gif” messages, and this message cannot be downgraded further.' });
  });

  it('given the original sticker message, a 406 on the image it became sends it as a document, with both conversions', () => {
    const sticker = withFeature('sticker', { mime: 'image/webp', emoji: '😀', media: { data: bytes(10) } });
    expect(downgradeAfter406(sticker, 'image', DEFAULT_RULES, CTX)).toEqual({
      kind: 'send',
      message: outbound({ media: { kind: 'document', mime: 'image/webp', data: bytes(10), filename: 'sticker.webp' } }),
      fallbacks: [{ for: 'sticker', text: 'Sticker 😀' }],
      downgraded: [{ feature: 'sticker', to: 'document' }],
    });
  });

  it('a 406 naming the feature itself converts it (when the hub was sent the feature kind)', () => {
    const poll = withFeature('poll', { question: 'Lunch?', options: ['Pizza', 'Sushi'] });
    expect(downgradeAfter406(poll, 'poll', DEFAULT_RULES, CTX)).toMatchObject({ kind: 'send', message: { text: '📊 Lunch?\n1. Pizza\n2. Sushi\n(Reply with the number.)' } });
  });

  it('respects the hub features already known: voice refused while audio is unsupported goes as a document', () => {
    const hub = featuresFromAnswer({ kinds: [{ name: 'text' }, { name: 'document' }], unsupported: ['audio'] }, 1);
    expect(downgradeAfter406(outbound({ media: voice }), 'voice', DEFAULT_RULES, { ...CTX, hubFeatures: hub })).toMatchObject({
      kind: 'send',
      message: { media: { kind: 'document', filename: 'voice.ogg' } },
      downgraded: [{ feature: 'voice', to: 'document' }],
    });
  });

  it('a feature the rules reject stays rejected after a 406', () => {
    const call = withFeature('call', {});
    expect(downgradeAfter406(call, 'call', DEFAULT_RULES, CTX)).toMatchObject({ kind: 'reject', reason: 'unsupported-in-interop', feature: 'call' });
  });
});
