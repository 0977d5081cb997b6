// What the hub carries (src/policy/features-cache.ts): the spec 11 `features` answer parsed by
// the real codec, our own limits, 406s learned on the way, merging and staleness; and the engine
// deciding from it before anything is sent.
import { describe, expect, it } from 'vitest';
import { parseStanza } from '../../src/protocol/index.ts';
import {
  carries, downgradeOutbound, featuresFromAnswer, isStale, mediaLimit, mergeFeatures, SPEC_FEATURES, withLimits, withRefused,
} from '../../src/policy/index.ts';
import { bytes, CTX, DEFAULT_RULES, outbound } from './helpers.ts';

/** A features answer as a hub sends it (spec 11), through the protocol codec. */
function answerOf(xml: string): { kinds: Array<{ name: string; maxSize?: number }>; unsupported: string[] } {
  const s = parseStanza(`<iq id="feat0001" type="result">${xml}</iq>`);
  if (s.kind !== 'iq' || s.type !== 'result' || s.result.op !== 'features') throw new Error('not a features result');
  return s.result;
}

const ANSWER = answerOf(
  '<features><kind name="text"/><kind name="image" max-size="8388608"/><kind name="video" max-size="33554432"/><kind name="document"/>' +
    '<unsupported name="voice"/><unsupported name="sticker"/><unsupported name="poll"/></features>',
);

describe('hub features', () => {
  it('the spec defaults: text and the five media kinds with the 11.1 limits; the version 1 features unsupported', () => {
    for (const k of ['text', 'image', 'video', 'audio', 'voice', 'document']) expect(carries(SPEC_FEATURES, k)).toBe(true);
    expect(carries(SPEC_FEATURES, 'sticker')).toBe(false);
    expect(mediaLimit(SPEC_FEATURES, 'video')).toBe(64 * 1024 * 1024);
    expect(mediaLimit(SPEC_FEATURES, 'document')).toBe(100 * 1024 * 1024);
    expect(isStale(SPEC_FEATURES, 0, 1)).toBe(true);
  });

  it('reads the answer: listed kinds with their sizes, unsupported names, unlisted media kinds at the spec limit', () => {
    const f = featuresFromAnswer(ANSWER, 5_000);
    expect(f).toMatchObject({ source: 'hub', learnedAt: 5_000, unsupported: ['voice', 'sticker', 'poll'] });
    expect(carries(f, 'voice')).toBe(false);
    expect(carries(f, 'image')).toBe(true);
    expect(carries(f, 'audio')).toBe(true);
    expect(carries(f, 'location')).toBe(false);
    expect(mediaLimit(f, 'image')).toBe(8 * 1024 * 1024);
    expect(mediaLimit(f, 'document')).toBe(100 * 1024 * 1024);
    expect(mediaLimit(f, 'audio')).toBe(16 * 1024 * 1024);
  });

  it('ignores names that are not tokens, keeps the lower of two sizes, and unsupported wins over listed', () => {
    const f = featuresFromAnswer({ kinds: [{ name: 'Image!' }, { name: 'image', maxSize: 100 }, { name: 'image', maxSize: 50 }, { name: 'video', maxSize: 0 }, { name: 'audio' }], unsupported: ['audio', 'No Way'] }, 1);
    expect(Object.keys(f.kinds)).toEqual(['image', 'video', 'audio']);
    expect(mediaLimit(f, 'image')).toBe(50);
    expect(mediaLimit(f, 'video')).toBe(64 * 1024 * 1024);
    expect(carries(f, 'audio')).toBe(false);
    expect(f.unsupported).toEqual(['audio']);
  });

  it('our own limits count when lower than the hub’s', () => {
    const f = withLimits(featuresFromAnswer(ANSWER, 1), { image: 1_000, document: 10 * 1024 * 1024 * 1024 });
    expect(mediaLimit(f, 'image')).toBe(1_000);
    expect(mediaLimit(f, 'document')).toBe(100 * 1024 * 1024);
  });

  it('a 406 marks a kind refused; a newer answer replaces it; merging keeps the newer view and later 406s', () => {
    const answered = featuresFromAnswer(ANSWER, 1_000);
    const refused = withRefused(answered, 'video', 2_000);
    expect(carries(refused, 'video')).toBe(false);
    const fresh = featuresFromAnswer(ANSWER, 3_000, refused);
    expect(carries(fresh, 'video')).toBe(true);
    expect(mergeFeatures(refused, answered)).toEqual(refused);
    const later = withRefused(answered, 'document', 4_000);
    const merged = mergeFeatures(later, fresh);
    expect(merged.learnedAt).toBe(3_000);
    expect(carries(merged, 'document')).toBe(false);
    expect(carries(merged, 'video')).toBe(true);
  });

  it('knows when to ask again', () => {
    const f = featuresFromAnswer(ANSWER, 1_000);
    expect(isStale(f, 1_000 + 59_999, 60_000)).toBe(false);
    expect(isStale(f, 1_000 + 60_000, 60_000)).toBe(true);
  });

  it('is plain data that survives JSON (the caller may keep it in Redis)', () => {
    const f = withRefused(withLimits(featuresFromAnswer(ANSWER, 7), { image: 5 }), 'video', 8);
    expect(JSON.parse(JSON.stringify(f))).toEqual(f);
  });
});

describe('the engine decides from the hub features before sending', () => {
  const hub = featuresFromAnswer(ANSWER, 1);

  it('a voice note goes as audio when the hub announced voice unsupported', () => {
    const d = downgradeOutbound(outbound({ media: { kind: 'voice', mime: 'audio/ogg', data: bytes(3) } }), DEFAULT_RULES, { ...CTX, hubFeatures: hub });
    expect(d).toMatchObject({ kind: 'send', message: { media: { kind: 'audio' } }, downgraded: [{ feature: 'voice', to: 'audio' }], fallbacks: [{ for: 'voice', text: 'Voice message' }] });
  });

  it('a 10 MB photo is over the announced 8 MiB image limit and goes as a document', () => {
    const d = downgradeOutbound(outbound({ media: { kind: 'image', mime: 'image/jpeg', url: 'https://cdn.birdy.example/p.jpg', filename: 'p.jpg' } }), DEFAULT_RULES, {
      ...CTX,
      hubFeatures: hub,
      mediaSize: 10_000_000,
    });
    expect(d).toMatchObject({ kind: 'send', message: { media: { kind: 'document', filename: 'p.jpg' } }, downgraded: [{ feature: 'image', to: 'document' }] });
  });
});
