// Example round trips: every stanza kind and variant of spec 2–10 (every iq query and result,
// every notification type, every receipt type, both message directions, acks with every error of
// the spec 4 table), plus the wire form of a few that have a fixed spelling.
import { describe, expect, it } from 'vitest';
import { ACK_ERRORS, buildStanza, parseStanza } from '../../src/protocol/index.ts';
import type { AckErrorReason, KeyBundle, Stanza } from '../../src/protocol/index.ts';

const b = (...xs: number[]): Uint8Array => Uint8Array.from(xs);
const bundle: KeyBundle = {
  registration: 0x12345678,
  identity: b(5, 1, 2, 3),
  skey: { id: 1, value: b(5, 9), signature: b(7, 7, 7) },
  kyber: { id: 16_777_215, value: b(8, 8), signature: b(6) },
  key: { id: 42, value: b(5, 4) },
};
const devices = { jid: '447700900123@hub', dhash: '2:pYHTvpwl', devices: [0, 3] };

const cases: Array<[string, Stanza]> = [
  ['open', { kind: 'open', user: 'alice@birdy.interop', token: 'eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJhbGljZSJ9.c2ln' }],
  ['opened', { kind: 'opened', session: 'S-1763800000.abc', t: 1763800000 }],
  ...(['not-authorized', 'unknown-provider', 'delisted', 'conflict'] as const).map((reason): [string, Stanza] => [`failure ${reason}`, { kind: 'failure', reason }]),
  ['close', { kind: 'close' }],
  ['close idle', { kind: 'close', reason: 'idle' }],
  ['outgoing message', {
    kind: 'message', id: '3EB0C4F1A2', to: '447700900123@hub', type: 'text', t: 1763800000, dhash: '2:pYHTvpwl',
    participants: [
      { jid: '447700900123:0@hub', enc: { v: 1, type: 'pkmsg', ciphertext: b(1, 2, 3) } },
      { jid: '447700900123:3@hub', enc: { v: 1, type: 'msg', ciphertext: b(4, 5) } },
    ],
  }],
  ['outgoing media resend with count, no t or dhash', {
    kind: 'message', id: '3EB0C4F1A2', to: '447700900123@hub', type: 'media',
    participants: [{ jid: '447700900123:3@hub', enc: { v: 1, type: 'pkmsg', mediatype: 'voice', count: 2, ciphertext: b(9) } }],
  }],
  ['outgoing declared sticker (for a 406)', {
    kind: 'message', id: '3EB0C4F1A3', to: '447700900123@hub', type: 'media',
    participants: [{ jid: '447700900123:0@hub', enc: { v: 1, type: 'msg', mediatype: 'sticker', ciphertext: b() } }],
  }],
  ['outgoing group skmsg', {
    kind: 'message', id: 'grp-00000001', to: '120363040@g.hub', type: 'text',
    participants: [{ jid: '447700900123:0@hub', enc: { v: 1, type: 'skmsg', ciphertext: b(1) } }],
  }],
  ['incoming message', { kind: 'message', id: '8F2A11C0', from: '447700900123@hub', participant: '447700900123:3@hub', type: 'text', t: 1763800100, enc: { v: 1, type: 'msg', ciphertext: b(1, 2) } }],
  ['incoming offline media', {
    kind: 'message', id: '8F2A11C0', from: '447700900123@hub', participant: '447700900123:0@hub', type: 'media', t: 1763800100, offline: true,
    enc: { v: 1, type: 'pkmsg', mediatype: 'image', ciphertext: b(1, 2) },
  }],
  ['incoming offline="0"', { kind: 'message', id: '8F2A11C0', from: 'bob@haiket.interop', participant: 'bob:1@haiket.interop', type: 'text', t: 0, offline: false, enc: { v: 1, type: 'msg', ciphertext: b() } }],
  ['ack message', { kind: 'ack', class: 'message', id: '3EB0C4F1A2', t: 1763800001 }],
  ['ack incoming message', { kind: 'ack', class: 'message', id: '8F2A11C0', to: '447700900123@hub' }],
  ['ack delivery receipt to hub', { kind: 'ack', class: 'receipt', id: '8F2A11C0', type: 'delivery', to: '447700900123@hub' }],
  ['ack read receipt from hub', { kind: 'ack', class: 'receipt', id: '8F2A11C0', type: 'read', from: '447700900123@hub', participant: '447700900123:3@hub' }],
  ['ack notification', { kind: 'ack', class: 'notification', id: 'notif0001' }],
  ['ack unknown', { kind: 'ack', class: 'unknown', error: 400, reason: 'unrecognized-stanza' }],
  ['ack 429 retry-after', { kind: 'ack', class: 'message', id: '3EB0C4F1A2', error: 429, reason: 'rate-limited', retryAfter: 30 }],
  ['ack 406 unsupported', { kind: 'ack', class: 'message', id: '3EB0C4F1A2', error: 406, reason: 'unsupported-in-interop', unsupported: 'sticker' }],
  ['ack 409 devices', { kind: 'ack', class: 'message', id: '3EB0C4F1A2', error: 409, reason: 'stale-devices', devices }],
  ['receipt delivery', { kind: 'receipt', id: '8F2A11C0', to: '447700900123@hub', type: 'delivery', t: 1763800200 }],
  ['receipt read with list', { kind: 'receipt', id: '3EB0AAAA01', to: '447700900123@hub', type: 'read', list: ['3EB0AAAA02', '3EB0AAAA03'] }],
  ['receipt played from hub', { kind: 'receipt', id: '3EB0AAAA01', from: '447700900123@hub', participant: '447700900123:3@hub', type: 'played' }],
  ['receipt retry count 1', { kind: 'receipt', id: '8F2A11C0', to: '447700900123@hub', participant: '447700900123:3@hub', type: 'retry', retry: { count: 1, t: 1763800100 }, registration: 12345 }],
  ['receipt retry count 2 with keys', {
    kind: 'receipt', id: '8F2A11C0', from: '447700900123@hub', participant: '447700900123:3@hub', type: 'retry',
    retry: { count: 2, t: 1763800100 }, registration: 0xffffffff, keys: bundle,
  }],
  ['iq upload (full)', {
    kind: 'iq', id: 'keys0001', type: 'set', query: {
      xmlns: 'encrypt', op: 'upload', registration: 1, identity: b(5, 5), skey: bundle.skey, kyber: bundle.kyber,
      preKeys: [{ id: 1, value: b(1) }, { id: 2, value: b(2) }], kyberPreKeys: [{ id: 3, value: b(3), signature: b(4) }],
    },
  }],
  ['iq upload (prekeys only, empty list)', { kind: 'iq', id: 'keys0004', type: 'set', query: { xmlns: 'encrypt', op: 'upload', preKeys: [] } }],
  ['iq count', { kind: 'iq', id: 'keys0003', type: 'get', query: { xmlns: 'encrypt', op: 'count' } }],
  ['iq fetch', { kind: 'iq', id: 'keys0002', type: 'get', query: { xmlns: 'encrypt', op: 'fetch', jids: ['447700900123:0@hub', '447700900123:3@hub'] } }],
  ['iq devices', { kind: 'iq', id: 'devs0001', type: 'get', query: { xmlns: 'devices', op: 'devices', jid: '447700900123@hub' } }],
  ['iq lookup', { kind: 'iq', id: 'look0001', type: 'get', query: { xmlns: 'directory', op: 'lookup', phone: '+447700900123' } }],
  ['iq enlist', { kind: 'iq', id: 'intr0001', type: 'set', query: { xmlns: 'interop', op: 'enlist' } }],
  ['iq delist', { kind: 'iq', id: 'intr0003', type: 'set', query: { xmlns: 'interop', op: 'delist' } }],
  ['iq status', { kind: 'iq', id: 'intr0002', type: 'get', query: { xmlns: 'interop', op: 'status' } }],
  ['iq features', { kind: 'iq', id: 'feat0001', type: 'get', query: { xmlns: 'features', op: 'features' } }],
  ['result empty', { kind: 'iq', id: 'keys0001', type: 'result', result: { op: 'empty' } }],
  ['result count', { kind: 'iq', id: 'keys0003', type: 'result', result: { op: 'count', value: 4, kyber: 0 } }],
  ['result bundles', {
    kind: 'iq', id: 'keys0002', type: 'result', result: {
      op: 'bundles', users: [
        { jid: '447700900123:0@hub', bundle },
        { jid: '447700900123:2@hub', bundle: { ...bundle, key: undefined } as KeyBundle },
        { jid: '447700900123:3@hub', error: { code: 404, reason: 'no-such-device' } },
      ],
    },
  }],
  ['result devices', { kind: 'iq', id: 'devs0001', type: 'result', result: { op: 'devices', list: devices } }],
  ['result lookup', { kind: 'iq', id: 'look0001', type: 'result', result: { op: 'lookup', jid: '447700900123@hub', name: 'Zoë "Z" <O\'Brien> & co' } }],
  ['result lookup without name', { kind: 'iq', id: 'look0001', type: 'result', result: { op: 'lookup', jid: '447700900123@hub' } }],
  ['result status', { kind: 'iq', id: 'intr0002', type: 'result', result: { op: 'status', enlisted: true } }],
  ['result status false', { kind: 'iq', id: 'intr0002', type: 'result', result: { op: 'status', enlisted: false } }],
  ['result features', {
    kind: 'iq', id: 'feat0001', type: 'result', result: {
      op: 'features', kinds: [{ name: 'text' }, { name: 'image', maxSize: 16_777_216 }], unsupported: ['sticker', 'poll'],
    },
  }],
  ['iq error', { kind: 'iq', id: 'devs0001', type: 'error', error: { code: 404, reason: 'no-such-user' } }],
  ['notification encrypt', { kind: 'notification', id: 'notif0001', type: 'encrypt', count: { value: 4, kyber: 0 } }],
  ['notification identity', { kind: 'notification', id: 'notif0002', type: 'identity', from: '447700900123@hub', t: 1763800000 }],
  ['notification devices', { kind: 'notification', id: 'notif0003', type: 'devices', from: '447700900123@hub', dhash: '2:pYHTvpwl' }],
  ['notification interop enabled', { kind: 'notification', id: 'notif0004', type: 'interop', from: '447700900123@hub', state: 'enabled' }],
  ['notification interop disabled', { kind: 'notification', id: 'notif0005', type: 'interop', from: '447700900123@hub', state: 'disabled' }],
  ['notification providers', { kind: 'notification', id: 'notif0006', type: 'providers', providers: [{ id: 'haiket', name: 'Haiket' }, { id: 'birdy', name: 'BirdyChat' }] }],
  ['chatstate to hub', { kind: 'chatstate', to: '447700900123@hub', state: 'composing' }],
  ['chatstate from hub', { kind: 'chatstate', from: '447700900123@hub', participant: '447700900123:3@hub', state: 'paused' }],
];

describe('round trip of every stanza kind and variant', () => {
  it.each(cases)('%s', (_name, s) => {
    const frame = buildStanza(s);
    const parsed = parseStanza(frame);
    // toEqual ignores properties whose value is undefined (the bundle built with key: undefined).
    expect(parsed).toEqual(s);
    expect(buildStanza(parsed)).toBe(frame);
  });

  it.each(Object.entries(ACK_ERRORS) as Array<[AckErrorReason, number]>)('ack error %s (%i)', (reason, code) => {
    const s: Stanza = { kind: 'ack', class: 'message', id: '3EB0C4F1A2', error: code, reason };
    const frame = buildStanza(s);
    expect(frame).toBe(`<ack class="message" id="3EB0C4F1A2" error="${code}" reason="${reason}"/>`);
    expect(parseStanza(frame)).toEqual(s);
  });
});

describe('wire forms', () => {
  it('a delivery receipt has no type attribute, and an ack of one parses with type "delivery"', () => {
    expect(buildStanza({ kind: 'receipt', id: '8F2A11C0', to: '447700900123@hub', type: 'delivery' })).toBe('<receipt id="8F2A11C0" to="447700900123@hub"/>');
    expect(parseStanza('<ack class="receipt" id="8F2A11C0" to="447700900123@hub"/>')).toEqual({ kind: 'ack', class: 'receipt', id: '8F2A11C0', type: 'delivery', to: '447700900123@hub' });
  });

  it('registration is 4 bytes big-endian base64', () => {
    const frame = buildStanza({ kind: 'receipt', id: '8F2A11C0', to: '447700900123@hub', type: 'retry', retry: { count: 1, t: 5 }, registration: 0x01020304 });
    expect(frame).toContain('<registration>AQIDBA==</registration>');
  });

  it('an iq result carries no xmlns; an iq error wraps <error code reason/>', () => {
    expect(buildStanza({ kind: 'iq', id: 'keys0003', type: 'result', result: { op: 'count', value: 4, kyber: 1 } })).toBe('<iq id="keys0003" type="result"><count value="4" kyber="1"/></iq>');
    expect(buildStanza({ kind: 'iq', id: 'devs0001', type: 'error', error: { code: 404, reason: 'no-such-user' } })).toBe('<iq id="devs0001" type="error"><error code="404" reason="no-such-user"/></iq>');
  });

  it('a chatstate is one empty element', () => {
    expect(buildStanza({ kind: 'chatstate', to: '447700900123@hub', state: 'composing' })).toBe('<chatstate to="447700900123@hub" state="composing"/>');
  });
});
