// fast-check arbitraries of the policy tests: valid payloads for every feature (within the schemas
// of src/policy/features.ts, long texts included), rules with random actions and options, and hub
// feature views with small limits so that size fallbacks happen.
import fc from 'fast-check';
import type { InboundMessage } from '../../adapters/contract.ts';
import type { PolicyConfig } from '../../src/config/policy-schema.ts';
import { policySchema } from '../../src/config/policy-schema.ts';
import { MEDIA_KINDS, UNSUPPORTED_FEATURES, type UnsupportedFeature } from '../../src/protocol/index.ts';
import { featuresFromAnswer, type HubFeatures } from '../../src/policy/index.ts';
import { isXmlText } from '../../src/policy/text.ts';

const unit = fc.oneof(
  { weight: 3, arbitrary: fc.string({ unit: 'grapheme', minLength: 1, maxLength: 1 }) },
  { weight: 1, arbitrary: fc.constantFrom('\n', '\t', '\r\n', ' ', '😀', '👨‍👩‍👧', '&', '<', ']]>', '“', ';', ',', '\\', '{lat}', '…', 'é', '\u0301') },
);

export const text = (maxLength = 40): fc.Arbitrary<string> => fc.string({ unit, maxLength }).filter(isXmlText);
export const nonEmpty = (maxLength = 40): fc.Arbitrary<string> => text(maxLength).filter((s) => s.trim().length > 0);

/** Message-sized texts, some over the spec 11 limit once a prefix is added. */
export const messageText: fc.Arbitrary<string> = fc.oneof(
  { weight: 8, arbitrary: text(200) },
  { weight: 1, arbitrary: fc.constantFrom('😀'.repeat(70_000), 'a'.repeat(262_144), '&'.repeat(65_536)) },
);

const hipId = fc.stringMatching(/^[A-Za-z0-9_-]{8,64}$/);
const mime = fc.constantFrom('image/webp', 'image/gif', 'image/png', 'video/webm', 'video/mp4', 'audio/ogg; codecs=opus', 'application/pdf', 'application/x-tgsticker', 'text/plain');
const source = fc.oneof(
  fc.record({ data: fc.uint8Array({ maxLength: 120 }) }),
  fc.record({ url: fc.constantFrom('https://cdn.birdy.example/m/1', 'http://127.0.0.1:7310/media/abc') }),
);
const mediaExtras = fc.record({ filename: nonEmpty(30), caption: text(60) }, { requiredKeys: [] });

export const media = fc
  .tuple(fc.constantFrom(...MEDIA_KINDS), mime, source, mediaExtras)
  .map(([kind, m, src, extra]) => ({ kind, mime: m, ...src, ...extra }));

const latitude = fc.double({ min: -90, max: 90, noNaN: true });
const longitude = fc.double({ min: -180, max: 180, noNaN: true });

export const FEATURE_ARBITRARIES: Record<UnsupportedFeature, fc.Arbitrary<Record<string, unknown>>> = {
  sticker: fc.record(
    {
      mime,
      animated: fc.boolean(),
      emoji: nonEmpty(8),
      media: fc.tuple(source, fc.record({ kind: fc.constantFrom(...MEDIA_KINDS), filename: nonEmpty(20) }, { requiredKeys: [] })).map(([s, e]) => ({ ...s, ...e })),
    },
    { requiredKeys: ['mime', 'media'] },
  ),
  status: fc.record({ text: messageText, media }, { requiredKeys: [] }),
  disappearing: fc.record({ seconds: fc.integer({ min: 1, max: 315_360_000 }), text: messageText, media }, { requiredKeys: ['seconds'] }),
  'view-once': fc.record({ media }),
  poll: fc.record({ question: nonEmpty(300), options: fc.array(nonEmpty(100), { minLength: 2, maxLength: 12 }), multiple: fc.boolean() }, { requiredKeys: ['question', 'options'] }),
  location: fc.record({ latitude, longitude, name: nonEmpty(80), address: nonEmpty(120), live: fc.boolean() }, { requiredKeys: ['latitude', 'longitude'] }),
  contact: fc.record(
    {
      name: nonEmpty(80),
      phones: fc.array(fc.record({ number: fc.stringMatching(/^\+?[0-9][0-9 ()./-]{0,20}$/), label: nonEmpty(20) }, { requiredKeys: ['number'] }), { maxLength: 4 }),
      emails: fc.array(fc.stringMatching(/^[a-z0-9._+;,\\-]{1,20}@[a-z0-9.-]{1,20}$/), { maxLength: 3 }),
      organization: nonEmpty(60),
    },
    { requiredKeys: ['name'] },
  ),
  reaction: fc.record({ target_id: hipId, emoji: nonEmpty(6), target_text: messageText, target_sender: fc.constantFrom('peer', 'self') }, { requiredKeys: ['target_id', 'emoji'] }),
  edit: fc.record({ target_id: hipId, text: messageText.filter((s) => s.trim().length > 0) }),
  delete: fc.record({ target_id: hipId, for_everyone: fc.boolean() }, { requiredKeys: ['target_id'] }),
  call: fc.record({ video: fc.boolean() }, { requiredKeys: [] }),
};

export const validFeature = fc.constantFrom(...UNSUPPORTED_FEATURES).chain((name) => FEATURE_ARBITRARIES[name].map((data) => ({ name, data })));

/** Mostly convert, so that most runs exercise a converter. */
const action = fc.oneof({ weight: 4, arbitrary: fc.constant('convert') }, { weight: 1, arbitrary: fc.constantFrom('reject', 'drop') });
const someOptions = fc.record(
  {
    sticker: fc.record({ animated_to: fc.constantFrom('video', 'image', 'document') }),
    contact: fc.record({ format: fc.constantFrom('vcard', 'text'), vcard_version: fc.constantFrom('3.0', '4.0') }),
    reaction: fc.record({ excerpt_length: fc.integer({ min: 1, max: 500 }) }),
    delete: fc.record({ notice: fc.boolean() }),
    status: fc.record({ prefix: fc.constantFrom('📣 ', 'Status: ') }),
  },
  { requiredKeys: [] },
);

/** Random actions per feature and direction, some options, parsed by the real schema. */
export const rules: fc.Arbitrary<PolicyConfig> = fc
  .tuple(fc.array(fc.tuple(action, action), { minLength: UNSUPPORTED_FEATURES.length, maxLength: UNSUPPORTED_FEATURES.length }), someOptions)
  .map(([actions, options]) =>
    policySchema.parse({
      downgrade: Object.fromEntries(
        UNSUPPORTED_FEATURES.map((f, i) => {
          const [out, inn] = actions[i] ?? ['convert', 'convert'];
          const opts = (options as Record<string, unknown>)[f];
          return [f, { outbound: { action: out, ...(opts ? { options: opts } : {}) }, inbound: { action: inn } }];
        }),
      ),
    }),
  );

/** A hub that carries a random subset of kinds, some with tiny limits. */
export const hub: fc.Arbitrary<HubFeatures | undefined> = fc.option(
  fc
    .tuple(fc.subarray([...MEDIA_KINDS]), fc.array(fc.tuple(fc.constantFrom(...MEDIA_KINDS), fc.integer({ min: 1, max: 200 })), { maxLength: 5 }))
    .map(([carried, sizes]) =>
      featuresFromAnswer(
        {
          kinds: [{ name: 'text' }, ...carried.map((name) => ({ name, ...(Object.fromEntries(sizes.filter(([k]) => k === name).map(([, s]) => ['maxSize', s])) as { maxSize?: number }) }))],
          unsupported: MEDIA_KINDS.filter((k) => !carried.includes(k)),
        },
        1,
      ),
    ),
  { nil: undefined },
);

export const inboundMessage: fc.Arbitrary<InboundMessage> = fc
  .record(
    {
      text: text(100),
      media: fc.record(
        { kind: fc.constantFrom(...MEDIA_KINDS), mime, size: fc.nat({ max: 200_000_000 }), filename: nonEmpty(30), caption: text(60), durationMs: fc.nat({ max: 10_000_000 }) },
        { requiredKeys: ['kind', 'mime', 'size'] },
      ),
      fallbacks: fc.array(fc.record({ feature: fc.constantFrom(...UNSUPPORTED_FEATURES, 'gif', 'voice'), text: text(30) }), { maxLength: 3 }),
    },
    { requiredKeys: [] },
  )
  .map((m) => ({ id: 'HUBMSG0001', from: '447700900123@hub', fromDevice: '447700900123:0@hub', to: 'alice', t: 1, offline: false, ...m }));
