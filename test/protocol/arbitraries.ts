// fast-check arbitraries for valid HIP/1 values: every stanza kind and variant, and content.
// Free-text fields draw from XML's hardest characters (markup, quotes, tab/CR/LF, "]]>", "-->",
// astral characters) plus any legal code point, so round trips exercise escaping for real.
import fc from 'fast-check';
import type {
  AckStanza, Content, DeviceList, Enc, IqStanza, KeyBundle, MediaRef, NotificationStanza, PreKey, ReceiptStanza,
  SignedPreKey, Stanza,
} from '../../src/protocol/index.ts';
import { MAX_DEVICE, MEDIA_KINDS } from '../../src/protocol/index.ts';

const legalCodePoint = fc
  .integer({ min: 0x20, max: 0x10ffff })
  .filter((cp) => (cp < 0xd800 || cp > 0xdfff) && cp !== 0xfffe && cp !== 0xffff)
  .map((cp) => String.fromCodePoint(cp));
const hardUnit = fc.constantFrom(
  '<', '>', '&', '"', "'", '\t', '\n', '\r', '\r\n', ']]>', '-->', '<!--', '&amp;', '&#0;', ';', ' ', '  ', 'a', 'Z', '9',
  '\u00a0', '\u0085', '\u2028', '\ufeff', '\ufffd', '\ue000', '😀', '𝄞', '\u{10ffff}', 'é', 'e\u0301',
);
/** Any string XML 1.0 can carry. */
export const freeText = (maxLength = 24): fc.Arbitrary<string> =>
  fc.string({ unit: fc.oneof({ weight: 3, arbitrary: hardUnit }, { weight: 2, arbitrary: legalCodePoint }), maxLength });

export const id = fc.stringMatching(/^[A-Za-z0-9_-]{8,64}$/);
export const uint = fc.oneof(fc.nat(2_000_000_000), fc.maxSafeNat());
export const token = fc.stringMatching(/^[a-z0-9][a-z0-9-]{0,63}$/);
export const kindName = fc.stringMatching(/^[a-z][a-z0-9-]{0,31}$/);
export const dhash = fc.stringMatching(/^2:[A-Za-z0-9+/]{8}$/);
export const bytes = fc.uint8Array({ maxLength: 48 });
const errorCode = fc.integer({ min: 100, max: 599 });

const phone = fc.stringMatching(/^[1-9][0-9]{0,14}$/);
const local = fc.stringMatching(/^[a-z0-9._=-]{1,64}$/);
const provider = fc.stringMatching(/^[a-z0-9-]{1,32}$/);
export const hubUser = phone.map((p) => `${p}@hub`);
export const hubDevice = fc.tuple(phone, fc.oneof(fc.nat(10), fc.nat(MAX_DEVICE))).map(([p, d]) => `${p}:${d}@hub`);
export const providerUser = fc.tuple(local, provider).map(([l, p]) => `${l}@${p}.interop`);
export const providerDevice = fc.tuple(local, provider).map(([l, p]) => `${l}:1@${p}.interop`);
export const group = fc.stringMatching(/^[0-9]{1,64}$/).map((g) => `${g}@g.hub`);
export const userAddr = fc.oneof(hubUser, providerUser, group);
export const deviceAddr = fc.oneof(hubDevice, providerDevice);

const preKeyId = fc.nat(2 ** 24 - 1);
const preKey: fc.Arbitrary<PreKey> = fc.record({ id: preKeyId, value: bytes });
const signedPreKey: fc.Arbitrary<SignedPreKey> = fc.record({ id: preKeyId, value: bytes, signature: bytes });
export const bundle: fc.Arbitrary<KeyBundle> = fc.record(
  { registration: fc.nat(2 ** 32 - 1), identity: bytes, skey: signedPreKey, kyber: signedPreKey, key: preKey },
  { requiredKeys: ['registration', 'identity', 'skey', 'kyber'] },
);
const deviceList: fc.Arbitrary<DeviceList> = fc.record({ jid: userAddr, dhash, devices: fc.array(fc.nat(MAX_DEVICE), { maxLength: 5 }) });

const messageType = fc.oneof(fc.constantFrom('text', 'media', 'sticker'), kindName);
const enc = (type: string): fc.Arbitrary<Enc> =>
  fc.record(
    {
      v: fc.constant(1 as const),
      type: fc.constantFrom('pkmsg' as const, 'msg' as const, 'skmsg' as const),
      mediatype: fc.oneof(fc.constantFrom(...MEDIA_KINDS), kindName),
      count: fc.oneof(fc.integer({ min: 1, max: 5 }), fc.integer({ min: 1, max: 2 ** 40 })),
      ciphertext: bytes,
    },
    { requiredKeys: type === 'media' ? ['v', 'type', 'ciphertext', 'mediatype'] : ['v', 'type', 'ciphertext'] },
  );

const outgoing = messageType.chain((type) =>
  fc.record(
    {
      kind: fc.constant('message' as const), id, to: userAddr, type: fc.constant(type), t: uint, dhash,
      participants: fc.array(fc.record({ jid: deviceAddr, enc: enc(type) }), { maxLength: 4 }),
    },
    { requiredKeys: ['kind', 'id', 'to', 'type', 'participants'] },
  ));
const incoming = messageType.chain((type) =>
  fc.record(
    { kind: fc.constant('message' as const), id, from: userAddr, participant: deviceAddr, type: fc.constant(type), t: uint, offline: fc.boolean(), enc: enc(type) },
    { requiredKeys: ['kind', 'id', 'from', 'participant', 'type', 't', 'enc'] },
  ));

const receiptType = fc.constantFrom('delivery' as const, 'read' as const, 'played' as const, 'retry' as const);
export const ack: fc.Arbitrary<AckStanza> = fc
  .oneof(fc.constantFrom('message', 'receipt', 'notification', 'iq', 'unknown'), fc.stringMatching(/^[A-Za-z_][A-Za-z0-9_.:-]{0,63}$/))
  .chain((cls) =>
    fc.record(
      {
        kind: fc.constant('ack' as const), class: fc.constant(cls), id, t: uint, type: receiptType, to: userAddr, from: userAddr,
        participant: deviceAddr, error: errorCode, reason: token, retryAfter: uint, unsupported: token, devices: deviceList,
      },
      { requiredKeys: cls === 'receipt' ? ['kind', 'class', 'type'] : ['kind', 'class'] },
    ).map(({ type, ...rest }): AckStanza => (cls === 'receipt' ? { ...rest, type } : rest)));

const direction = fc.oneof(userAddr.map((to) => ({ to })), userAddr.map((from) => ({ from })));
export const receipt: fc.Arbitrary<ReceiptStanza> = fc
  .tuple(receiptType, direction)
  .chain(([type, dir]) =>
    fc.record(
      {
        kind: fc.constant('receipt' as const), id, type: fc.constant(type), participant: deviceAddr, t: uint, list: fc.array(id, { maxLength: 4 }),
        retry: fc.record({ count: fc.integer({ min: 1, max: 1000 }), t: uint }), registration: fc.nat(2 ** 32 - 1), keys: bundle,
      },
      { requiredKeys: type === 'retry' ? ['kind', 'id', 'type', 'retry', 'registration'] : ['kind', 'id', 'type'] },
    ).map(({ retry, registration, keys, ...rest }): ReceiptStanza =>
      (type === 'retry' ? { ...rest, retry, registration, keys, ...dir } : { ...rest, ...dir })));

const iqRequest: fc.Arbitrary<IqStanza> = fc.tuple(id, fc.oneof(
  fc.record(
    {
      xmlns: fc.constant('encrypt' as const), op: fc.constant('upload' as const), registration: fc.nat(2 ** 32 - 1), identity: bytes,
      skey: signedPreKey, kyber: signedPreKey, preKeys: fc.array(preKey, { maxLength: 3 }), kyberPreKeys: fc.array(signedPreKey, { maxLength: 3 }),
    },
    { requiredKeys: ['xmlns', 'op'] },
  ),
  fc.constant({ xmlns: 'encrypt' as const, op: 'count' as const }),
  fc.record({ xmlns: fc.constant('encrypt' as const), op: fc.constant('fetch' as const), jids: fc.array(deviceAddr, { maxLength: 4 }) }),
  fc.record({ xmlns: fc.constant('devices' as const), op: fc.constant('devices' as const), jid: fc.oneof(hubUser, providerUser) }),
  fc.record({ xmlns: fc.constant('directory' as const), op: fc.constant('lookup' as const), phone: fc.stringMatching(/^\+[1-9][0-9]{0,14}$/) }),
  fc.constantFrom(
    { xmlns: 'interop' as const, op: 'enlist' as const }, { xmlns: 'interop' as const, op: 'delist' as const },
    { xmlns: 'interop' as const, op: 'status' as const }, { xmlns: 'features' as const, op: 'features' as const },
  ),
)).map(([iqId, query]) => ({ kind: 'iq' as const, id: iqId, type: ({ upload: 'set', enlist: 'set', delist: 'set' } as Record<string, 'set'>)[query.op] ?? 'get', query }));

const iqResult: fc.Arbitrary<IqStanza> = fc.tuple(id, fc.oneof(
  fc.constant({ op: 'empty' as const }),
  fc.record({ op: fc.constant('count' as const), value: uint, kyber: uint }),
  fc.record({
    op: fc.constant('bundles' as const),
    users: fc.array(fc.oneof(
      fc.record({ jid: deviceAddr, bundle }),
      fc.record({ jid: deviceAddr, error: fc.record({ code: errorCode, reason: token }) }),
    ), { maxLength: 3 }),
  }),
  fc.record({ op: fc.constant('devices' as const), list: deviceList }),
  fc.record({ op: fc.constant('lookup' as const), jid: hubUser, name: freeText() }, { requiredKeys: ['op', 'jid'] }),
  fc.record({ op: fc.constant('status' as const), enlisted: fc.boolean() }),
  fc.record({
    op: fc.constant('features' as const),
    kinds: fc.array(fc.record({ name: kindName, maxSize: uint }, { requiredKeys: ['name'] }), { maxLength: 4 }),
    unsupported: fc.array(kindName, { maxLength: 4 }),
  }),
)).map(([iqId, result]) => ({ kind: 'iq' as const, id: iqId, type: 'result' as const, result }));

const iqError: fc.Arbitrary<IqStanza> = fc.record({
  kind: fc.constant('iq' as const), id, type: fc.constant('error' as const), error: fc.record({ code: errorCode, reason: token }),
});

const notifT = <T extends object>(a: fc.Arbitrary<T>): fc.Arbitrary<T & { t?: number }> =>
  fc.tuple(a, fc.option(uint, { nil: undefined })).map(([n, t]) => (t === undefined ? n : { ...n, t }));
const notification: fc.Arbitrary<NotificationStanza> = fc.oneof(
  notifT(fc.record({ kind: fc.constant('notification' as const), id, type: fc.constant('encrypt' as const), count: fc.record({ value: uint, kyber: uint }) })),
  notifT(fc.record({ kind: fc.constant('notification' as const), id, type: fc.constant('identity' as const), from: userAddr })),
  notifT(fc.record({ kind: fc.constant('notification' as const), id, type: fc.constant('devices' as const), from: userAddr, dhash })),
  notifT(fc.record({ kind: fc.constant('notification' as const), id, type: fc.constant('interop' as const), from: userAddr, state: fc.constantFrom('enabled' as const, 'disabled' as const) })),
  notifT(fc.record({
    kind: fc.constant('notification' as const), id, type: fc.constant('providers' as const),
    providers: fc.array(fc.record({ id: provider, name: freeText() }), { maxLength: 3 }),
  })),
);

/** Every stanza kind, each variant reachable. */
export const stanza: fc.Arbitrary<Stanza> = fc.oneof(
  fc.record({ kind: fc.constant('open' as const), user: providerUser, token: freeText(60) }),
  fc.record({ kind: fc.constant('opened' as const), session: fc.stringMatching(/^[A-Za-z0-9._~-]{1,128}$/), t: uint }),
  fc.record({ kind: fc.constant('failure' as const), reason: fc.constantFrom('not-authorized' as const, 'unknown-provider' as const, 'delisted' as const, 'conflict' as const) }),
  fc.record({ kind: fc.constant('close' as const), reason: freeText() }, { requiredKeys: ['kind'] }),
  outgoing, incoming, ack, receipt, iqRequest, iqResult, iqError, notification,
  fc.tuple(direction, fc.record({ kind: fc.constant('chatstate' as const), state: fc.constantFrom('composing' as const, 'paused' as const), participant: deviceAddr }, { requiredKeys: ['kind', 'state'] }))
    .map(([dir, c]) => ({ ...c, ...dir })),
);

const mediaRef: fc.Arbitrary<MediaRef> = fc.record(
  {
    kind: fc.constantFrom(...MEDIA_KINDS),
    mime: fc.oneof(fc.constantFrom('image/jpeg', 'audio/ogg; codecs=opus', 'application/pdf'), fc.stringMatching(/^[a-z]{1,10}\/[a-z0-9][a-z0-9.+-]{0,19}$/)),
    size: uint,
    sha256: fc.uint8Array({ minLength: 32, maxLength: 32 }),
    encSha256: fc.uint8Array({ minLength: 32, maxLength: 32 }),
    key: fc.uint8Array({ minLength: 32, maxLength: 32 }),
    nonce: fc.uint8Array({ minLength: 12, maxLength: 12 }),
    url: fc.stringMatching(/^[A-Za-z0-9._~/-]{0,40}$/).map((p) => `https://media.birdy.example/${p}`),
    filename: freeText(),
    width: uint,
    height: uint,
    durationMs: uint,
    caption: freeText(),
  },
  { requiredKeys: ['kind', 'mime', 'size', 'sha256', 'encSha256', 'key', 'nonce', 'url'] },
);

export const content: fc.Arbitrary<Content> = fc.record(
  {
    id, t: uint, text: freeText(80), media: mediaRef, reply: fc.record({ to: id, sender: userAddr }),
    fallbacks: fc.array(fc.record({ for: token, text: freeText() }), { minLength: 1, maxLength: 3 }),
  },
  { requiredKeys: ['id', 't'] },
);
