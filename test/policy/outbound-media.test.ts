// Outbound conversions that carry media (sticker, contact, disappearing, view-once, status) and
// the media placement every outbound message goes through (spec 11.1 limits, hub `features`).
import { describe, expect, it } from 'vitest';
import { downgradeOutbound, featuresFromAnswer, SPEC_FEATURES, type Decision, type HubFeatures } from '../../src/policy/index.ts';
import { bytes, CTX, DEFAULT_RULES, outbound, rulesFromYaml, rulesWith, withFeature } from './helpers.ts';

function sent(d: Decision) {
  if (d.kind !== 'send') throw new Error(`expected send, got ${JSON.stringify(d)}`);
  return d;
}

/** A hub that carries only `kinds` (spec 11 `features` answer), with optional limits. */
function hubWith(kinds: Array<[string, number?]>): HubFeatures {
  return featuresFromAnswer(
    { kinds: kinds.map(([name, maxSize]) => (maxSize === undefined ? { name } : { name, maxSize })), unsupported: ['image', 'video', 'audio', 'voice', 'document'].filter((k) => !kinds.some(([n]) => n === k)) },
    1000,
  );
}

describe('sticker', () => {
  const gif = { mime: 'image/gif', animated: true, emoji: '😀', media: { data: bytes(10) } };

  it('animated GIF without a transcoder: sent as the original animated image', () => {
    const d = sent(downgradeOutbound(withFeature('sticker', gif), DEFAULT_RULES, CTX));
    expect(d.message.media).toEqual({ kind: 'image', mime: 'image/gif', data: bytes(10) });
    expect(d.fallbacks).toEqual([{ for: 'sticker', text: 'Animated sticker 😀' }]);
    expect(d.downgraded).toEqual([{ feature: 'sticker', to: 'image' }]);
    expect(d.transcode).toBeUndefined();
  });

  it('animated GIF with a transcoder: a video/mp4, with the instruction for the media layer', () => {
    const d = sent(downgradeOutbound(withFeature('sticker', gif), DEFAULT_RULES, { ...CTX, canTranscode: (from, to) => from === 'image/gif' && to === 'video/mp4' }));
    expect(d.message.media).toEqual({ kind: 'video', mime: 'video/mp4', data: bytes(10) });
    expect(d.transcode).toEqual({ from: 'image/gif', to: 'video/mp4' });
    expect(d.downgraded).toEqual([{ feature: 'sticker', to: 'video' }]);
  });

  it('a WebM sticker is a video as it is (animated by default)', () => {
    const d = sent(downgradeOutbound(withFeature('sticker', { mime: 'video/webm', media: { url: 'https://cdn.birdy.example/s/1.webm' } }), DEFAULT_RULES, CTX));
    expect(d.message.media).toEqual({ kind: 'video', mime: 'video/webm', url: 'https://cdn.birdy.example/s/1.webm' });
    expect(d.fallbacks).toEqual([{ for: 'sticker', text: 'Animated sticker' }]);
  });

  it('a Lottie (TGS) sticker becomes a document named sticker.tgs', () => {
    const d = sent(downgradeOutbound(withFeature('sticker', { mime: 'application/x-tgsticker', media: { data: bytes(4) } }), DEFAULT_RULES, CTX));
    expect(d.message.media).toEqual({ kind: 'document', mime: 'application/x-tgsticker', data: bytes(4), filename: 'sticker.tgs' });
    expect(d.downgraded).toEqual([{ feature: 'sticker', to: 'document' }]);
  });

  it('animated_to: document sends even a GIF as a document', () => {
    const rules = rulesFromYaml('policy:\n  downgrade:\n    sticker: { outbound: { options: { animated_to: document } } }\n');
    const d = sent(downgradeOutbound(withFeature('sticker', gif), rules, CTX));
    expect(d.message.media).toMatchObject({ kind: 'document', mime: 'image/gif', filename: 'sticker.gif' });
  });

  it('falls to a document when the hub does not carry images, and to text when it carries no media', () => {
    const noImages = sent(downgradeOutbound(withFeature('sticker', gif), DEFAULT_RULES, { ...CTX, hubFeatures: hubWith([['text'], ['document']]) }));
    expect(noImages.message.media?.kind).toBe('document');
    const textOnly = sent(downgradeOutbound(withFeature('sticker', gif, { text: 'ha' }), DEFAULT_RULES, { ...CTX, hubFeatures: hubWith([['text']]) }));
    expect(textOnly.message).toEqual(outbound({ text: 'ha\n\n[Animated sticker 😀]' }));
    expect(textOnly.downgraded).toEqual([{ feature: 'sticker', to: 'text' }]);
  });

  it('a sticker larger than the image limit goes as a document', () => {
    const d = sent(downgradeOutbound(withFeature('sticker', gif), DEFAULT_RULES, { ...CTX, hubFeatures: hubWith([['image', 5], ['document', 100]]) }));
    expect(d.message.media?.kind).toBe('document');
  });

  it('refuses a sticker that also carries the message media (one media per content, spec 11)', () => {
    const d = downgradeOutbound(withFeature('sticker', gif, { media: { kind: 'image', mime: 'image/png', data: bytes(1) } }), DEFAULT_RULES, CTX);
    expect(d).toMatchObject({ kind: 'reject', reason: 'invalid-feature', feature: 'sticker', issues: [{ path: 'media' }] });
  });
});

describe('contact', () => {
  const ada = { name: 'Ada Lovelace', phones: [{ number: '+44 7700 900123', label: 'mobile' }, { number: '020 7946 0000' }], emails: ['ada@example.com'], organization: 'Analytical Engines' };
  const ADA_TEXT = '👤 Ada Lovelace\nAnalytical Engines\n📞 +44 7700 900123 (mobile)\n📞 020 7946 0000\n✉️ ada@example.com';

  it('format: text gives the details as text', () => {
    const rules = rulesFromYaml('policy:\n  downgrade:\n    contact: { outbound: { options: { format: text } } }\n');
    const d = sent(downgradeOutbound(withFeature('contact', ada), rules, CTX));
    expect(d.message).toEqual(outbound({ text: ADA_TEXT }));
    expect(d.downgraded).toEqual([{ feature: 'contact', to: 'text' }]);
    expect(d.fallbacks).toEqual([{ for: 'contact', text: 'Contact: Ada Lovelace' }]);
  });

  it('vCard 4.0 when configured', () => {
    const rules = rulesFromYaml('policy:\n  downgrade:\n    contact: { outbound: { options: { vcard_version: "4.0" } } }\n');
    const d = sent(downgradeOutbound(withFeature('contact', ada), rules, CTX));
    expect(new TextDecoder().decode(d.message.media?.data)).toBe(
      'BEGIN:VCARD\r\nVERSION:4.0\r\nFN:Ada Lovelace\r\nORG:Analytical Engines\r\nTEL;TYPE=cell:+44 7700 900123\r\nTEL:020 7946 0000\r\nEMAIL:ada@example.com\r\nEND:VCARD\r\n',
    );
  });

  it('text when the hub carries no documents, or when the message already has media', () => {
    const noDocs = sent(downgradeOutbound(withFeature('contact', ada), DEFAULT_RULES, { ...CTX, hubFeatures: hubWith([['text'], ['image']]) }));
    expect(noDocs.message.text).toBe(ADA_TEXT);
    const photo = { kind: 'image' as const, mime: 'image/jpeg', data: bytes(3) };
    const withPhoto = sent(downgradeOutbound(withFeature('contact', ada, { media: photo }), DEFAULT_RULES, CTX));
    expect(withPhoto.message).toEqual(outbound({ text: ADA_TEXT, media: photo }));
  });
});

describe('disappearing, view-once, status', () => {
  it('disappearing media from the payload; the message’s own text is kept', () => {
    const media = { kind: 'video' as const, mime: 'video/mp4', url: 'https://cdn.birdy.example/v.mp4' };
    const d = sent(downgradeOutbound(withFeature('disappearing', { seconds: 604_800, media }, { text: 'watch' }), DEFAULT_RULES, CTX));
    expect(d.message).toEqual(outbound({ text: 'watch', media }));
    expect(d.fallbacks).toEqual([{ for: 'disappearing', text: 'Disappearing message (timer 1 week): the timer does not apply across networks, so it will not disappear.' }]);
    expect(d.downgraded).toEqual([{ feature: 'disappearing', to: 'video' }]);
  });

  it('disappearing with the text in the message itself, and notify_sender: false', () => {
    const rules = rulesFromYaml('policy:\n  downgrade:\n    disappearing: { outbound: { options: { notify_sender: false } } }\n');
    const d = sent(downgradeOutbound(withFeature('disappearing', { seconds: 90 }, { text: 'hi' }), rules, CTX));
    expect(d.message.text).toBe('hi');
    expect(d.fallbacks[0]?.text).toContain('(timer 90 seconds)');
    expect(d.notice).toBeUndefined();
  });

  it('disappearing with nothing to send is refused with a path', () => {
    const d = downgradeOutbound(withFeature('disappearing', { seconds: 60 }), DEFAULT_RULES, CTX);
    expect(d).toMatchObject({ kind: 'reject', reason: 'invalid-feature', issues: [{ path: 'feature.data.text' }] });
  });

  it('view-once video under convert, without the sender notice', () => {
    const rules = rulesFromYaml("policy:\n  downgrade:\n    view-once: { outbound: { action: convert, options: { notify_sender: false } } }\n");
    const media = { kind: 'video' as const, mime: 'video/mp4', data: bytes(8) };
    const d = sent(downgradeOutbound(withFeature('view-once', { media }), rules, CTX));
    expect(d).toEqual({
      kind: 'send',
      message: outbound({ media }),
      fallbacks: [{ for: 'view-once', text: 'View-once video: view-once does not apply across networks.' }],
      downgraded: [{ feature: 'view-once', to: 'video' }],
    });
  });

  it('a status update with only a photo carries the prefix as caption', () => {
    const media = { kind: 'image' as const, mime: 'image/jpeg', data: bytes(2), caption: 'Lisbon' };
    const d = sent(downgradeOutbound(withFeature('status', { media }), rulesWith('status', 'convert'), CTX));
    expect(d.message.media).toEqual({ ...media, caption: '📣 Status update: Lisbon' });
    expect(d.message.text).toBeUndefined();
  });
});

describe('media placement of every outbound message', () => {
  const voice = { kind: 'voice' as const, mime: 'audio/ogg; codecs=opus', data: bytes(100) };

  it('passes a plain message through untouched', () => {
    const m = outbound({ text: 'hello', media: voice, replyTo: { id: 'HUBMSG0001', sender: '447700900123@hub' } });
    expect(downgradeOutbound(m, DEFAULT_RULES, CTX)).toEqual({ kind: 'send', message: m, fallbacks: [], downgraded: [] });
  });

  it('voice the hub does not carry goes as audio, then as a document', () => {
    const noVoice = sent(downgradeOutbound(outbound({ media: voice }), DEFAULT_RULES, { ...CTX, hubFeatures: hubWith([['text'], ['audio'], ['document']]) }));
    expect(noVoice.message.media).toEqual({ ...voice, kind: 'audio' });
    expect(noVoice.fallbacks).toEqual([{ for: 'voice', text: 'Voice message' }]);
    expect(noVoice.downgraded).toEqual([{ feature: 'voice', to: 'audio' }]);
    const docsOnly = sent(downgradeOutbound(outbound({ media: voice }), DEFAULT_RULES, { ...CTX, hubFeatures: hubWith([['text'], ['document']]) }));
    expect(docsOnly.message.media).toEqual({ ...voice, kind: 'document', filename: 'voice.ogg' });
  });

  it('a photo over the image limit goes as a document; over every limit it is too large', () => {
    const photo = { kind: 'image' as const, mime: 'image/png', data: bytes(50) };
    const hub = hubWith([['image', 40], ['document', 60]]);
    expect(sent(downgradeOutbound(outbound({ media: photo }), DEFAULT_RULES, { ...CTX, hubFeatures: hub })).message.media?.kind).toBe('document');
    const big = { ...photo, data: bytes(61) };
    expect(downgradeOutbound(outbound({ media: big }), DEFAULT_RULES, { ...CTX, hubFeatures: hub })).toEqual({
      kind: 'reject',
      reason: 'too-large',
      feature: 'image',
      message: 'The file is too large to send to contacts on other networks (at most 60 B).',
    });
  });

  it('uses mediaSize when only a URL is known, against the spec 11.1 limits by default', () => {
    const doc = { kind: 'document' as const, mime: 'application/pdf', url: 'https://cdn.birdy.example/a.pdf' };
    expect(downgradeOutbound(outbound({ media: doc }), DEFAULT_RULES, { ...CTX, mediaSize: 100 * 1024 * 1024 }).kind).toBe('send');
    expect(downgradeOutbound(outbound({ media: doc }), DEFAULT_RULES, { ...CTX, mediaSize: 100 * 1024 * 1024 + 1 })).toMatchObject({
      kind: 'reject',
      reason: 'too-large',
      message: 'The file is too large to send to contacts on other networks (at most 105 MB).',
    });
  });

  it('a kind the hub carries in no form is refused unsupported-in-interop', () => {
    const doc = { kind: 'document' as const, mime: 'application/pdf', data: bytes(1) };
    expect(downgradeOutbound(outbound({ media: doc }), DEFAULT_RULES, { ...CTX, hubFeatures: hubWith([['text'], ['image']]) })).toEqual({
      kind: 'reject',
      reason: 'unsupported-in-interop',
      feature: 'document',
      message: 'Documents cannot be sent to contacts on other networks.',
    });
  });

  it('spec defaults apply when no features answer is known', () => {
    expect(SPEC_FEATURES.source).toBe('spec');
    const d = downgradeOutbound(outbound({ media: voice }), DEFAULT_RULES, CTX);
    expect(sent(d).downgraded).toEqual([]);
  });
});
