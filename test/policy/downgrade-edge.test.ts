// Review findings on the downgrade policy: each case contradicted docs/downgrade-policy.md before
// its fix (payload strings that are not XML text, an uploaded attachment lost by the converters
// that wrap a message, the documented 406 call refusing what it should downgrade, and a deletion
// for the sender only failed under a reject rule).
import { describe, expect, it } from 'vitest';
import { downgradeAfter406, downgradeOutbound, featuresFromAnswer, SPEC_FEATURES, withRefused } from '../../src/policy/index.ts';
import { isXmlText } from '../../src/policy/text.ts';
import { bytes, CTX, DEFAULT_RULES, outbound, rulesFromYaml, rulesWith, withFeature } from './helpers.ts';

describe('contact emails are XML text (docs: "The schemas refuse anything else")', () => {
  const textRules = rulesFromYaml('policy:\n  downgrade:\n    contact: { outbound: { options: { format: text } } }\n');

  it.each([
    ['a control character', 'ada\u0001@example.com'],
    ['U+FFFE', 'ada@example.com\uFFFE'],
    ['a lone surrogate', 'ada\uD800@example.com'],
  ])('an email with %s is refused with its path, not sent as text the codec cannot encode', (_what, email) => {
    const d = downgradeOutbound(withFeature('contact', { name: 'Ada', emails: ['ada@example.com', email] }), textRules, CTX);
    expect(d).toMatchObject({ kind: 'reject', reason: 'invalid-feature', feature: 'contact', issues: [{ path: 'feature.data.emails[1]' }] });
  });

  it('a valid email still travels as text', () => {
    const d = downgradeOutbound(withFeature('contact', { name: 'Ada', emails: ['ada@example.com'] }), textRules, CTX);
    expect(d).toMatchObject({ kind: 'send', message: { text: '👤 Ada\n✉️ ada@example.com' } });
    if (d.kind === 'send') expect(isXmlText(d.message.text ?? '')).toBe(true);
  });
});

describe('the message’s own attachment keeps its uploadId (contract: OutboundMessage.media.uploadId)', () => {
  const uploaded = { kind: 'video' as const, mime: 'video/mp4', uploadId: 'UPLOAD0001', caption: 'Lisbon' };

  it('disappearing', () => {
    const d = downgradeOutbound(withFeature('disappearing', { seconds: 60 }, { media: uploaded }), DEFAULT_RULES, CTX);
    expect(d).toMatchObject({ kind: 'send', message: { media: uploaded }, downgraded: [{ feature: 'disappearing', to: 'video' }] });
  });

  it('status (converted; the caption gets the prefix)', () => {
    const d = downgradeOutbound(withFeature('status', {}, { media: uploaded }), rulesWith('status', 'convert'), CTX);
    expect(d).toMatchObject({ kind: 'send', message: { media: { ...uploaded, caption: '📣 Status update: Lisbon' } } });
  });
});

describe('downgradeAfter406 with the hub view the docs prescribe (step 3: withRefused before the call)', () => {
  const now = 1_000;

  it('a sticker sent as an image and refused as image goes again as a document', () => {
    const sticker = withFeature('sticker', { mime: 'image/webp', emoji: '😀', media: { data: bytes(10) } });
    const d = downgradeAfter406(sticker, 'image', DEFAULT_RULES, { ...CTX, hubFeatures: withRefused(SPEC_FEATURES, 'image', now) });
    expect(d).toEqual({
      kind: 'send',
      message: outbound({ media: { kind: 'document', mime: 'image/webp', data: bytes(10), filename: 'sticker.webp' } }),
      fallbacks: [{ for: 'sticker', text: 'Sticker 😀' }],
      downgraded: [{ feature: 'sticker', to: 'document' }],
    });
  });

  it('a contact card refused as document goes again as text', () => {
    const contact = withFeature('contact', { name: 'Ada' });
    const d = downgradeAfter406(contact, 'document', DEFAULT_RULES, { ...CTX, hubFeatures: withRefused(SPEC_FEATURES, 'document', now) });
    expect(d).toMatchObject({ kind: 'send', message: { text: '👤 Ada' }, downgraded: [{ feature: 'contact', to: 'text' }] });
  });

  it('also when a fresh features answer already lists the refused kind as unsupported', () => {
    const hub = featuresFromAnswer({ kinds: [{ name: 'text' }], unsupported: ['image'] }, now);
    const sticker = withFeature('sticker', { mime: 'image/png', media: { data: bytes(4) } });
    expect(downgradeAfter406(sticker, 'image', DEFAULT_RULES, { ...CTX, hubFeatures: hub })).toMatchObject({
      kind: 'send',
      message: { media: { kind: 'document' } },
    });
  });

  it('a refused kind the message never declared still fails', () => {
    const poll = withFeature('poll', { question: 'Lunch?', options: ['Pizza', 'Sushi'] });
    expect(downgradeAfter406(poll, 'image', DEFAULT_RULES, { ...CTX, hubFeatures: withRefused(SPEC_FEATURES, 'image', now) })).toMatchObject({
      kind: 'reject',
      reason: 'unsupported-in-interop',
      feature: 'image',
    });
  });
});

describe('a deletion for the sender only (docs: "always a local-only drop")', () => {
  it.each(['reject', 'drop'] as const)('under a %s rule it is still a local-only drop', (action) => {
    expect(downgradeOutbound(withFeature('delete', { target_id: 'CWMSG00001', for_everyone: false }), rulesWith('delete', action), CTX)).toEqual({
      kind: 'drop',
      reason: 'local-only',
      feature: 'delete',
      message: 'Deleted for you only: nothing was sent to the recipient.',
    });
  });
});
