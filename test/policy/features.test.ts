// Feature payload schemas (src/policy/features.ts): every sample validates; bad payloads are
// refused with the path of each bad field, from the OutboundMessage down.
import { describe, expect, it } from 'vitest';
import { UNSUPPORTED_FEATURES } from '../../src/protocol/index.ts';
import { checkFeature } from '../../src/policy/index.ts';
import { bytes, SAMPLES } from './helpers.ts';

function pathsOf(name: string, data: unknown): string[] {
  const r = checkFeature({ name, data });
  if (r.ok) throw new Error(`expected ${name} ${JSON.stringify(data)} to be refused`);
  return r.issues.map((i) => i.path);
}

describe('feature payloads', () => {
  it.each(UNSUPPORTED_FEATURES)('the %s sample validates and keeps its data', (name) => {
    const r = checkFeature({ name, data: SAMPLES[name] });
    expect(r).toEqual({ ok: true, feature: { name, data: SAMPLES[name] } });
  });

  it('ignores unknown keys (adapters may send more than the policy reads)', () => {
    const r = checkFeature({ name: 'call', data: { video: false, duration_s: 30 } });
    expect(r).toEqual({ ok: true, feature: { name: 'call', data: { video: false } } });
  });

  it.each([
    ['sticker', { mime: 'webp', media: {} }, ['feature.data.mime', 'feature.data.media.data']],
    ['sticker', { mime: 'image/webp', media: { data: 'AAAA' } }, ['feature.data.media.data']],
    ['sticker', { mime: 'image/webp', media: { url: 'ftp://x.example/s.webp' } }, ['feature.data.media.url']],
    ['location', { latitude: 91, longitude: -181 }, ['feature.data.latitude', 'feature.data.longitude']],
    ['location', { latitude: 1, longitude: 2, name: '  ' }, ['feature.data.name']],
    ['contact', { phones: [{ number: '+44 abc' }], emails: ['nobody'] }, ['feature.data.name', 'feature.data.phones[0].number', 'feature.data.emails[0]']],
    ['poll', { question: 'Q?', options: ['only one'] }, ['feature.data.options']],
    ['poll', { question: 'Q?', options: Array.from({ length: 13 }, (_, i) => `o${i}`) }, ['feature.data.options']],
    ['poll', { question: 'Q?', options: ['a', ''] }, ['feature.data.options[1]']],
    ['edit', { target_id: 'short', text: 'x' }, ['feature.data.target_id']],
    ['edit', { target_id: 'CWMSG00001', text: 'bell \u0007' }, ['feature.data.text']],
    ['delete', { target_id: 'CWMSG00001', for_everyone: 'yes' }, ['feature.data.for_everyone']],
    ['reaction', { target_id: 'HUBMSG0001', emoji: '', target_text: '\ud800' }, ['feature.data.emoji', 'feature.data.target_text']],
    ['reaction', { target_id: 'HUBMSG0001', emoji: '👍', target_sender: 'them' }, ['feature.data.target_sender']],
    ['disappearing', { seconds: 0 }, ['feature.data.seconds']],
    ['disappearing', { seconds: 1.5, media: { kind: 'gif', mime: 'image/gif', data: bytes(1) } }, ['feature.data.seconds', 'feature.data.media.kind']],
    ['view-once', {}, ['feature.data.media']],
    ['view-once', { media: { kind: 'image', mime: 'image/jpeg' } }, ['feature.data.media.data']],
    ['status', { text: 42 }, ['feature.data.text']],
    ['call', { video: 'true' }, ['feature.data.video']],
  ] as const)('%s %j is refused at %j', (name, data, paths) => {
    expect(pathsOf(name, data)).toEqual(paths);
  });

  it('names an unknown feature at feature.name', () => {
    const r = checkFeature({ name: '__proto__', data: {} });
    expect(r).toMatchObject({ ok: false, unknown: true, issues: [{ path: 'feature.name' }] });
  });

  it('refuses a payload that is not an object', () => {
    expect(pathsOf('poll', null)).toEqual(['feature.data']);
  });
});
