// Well-formed frames with a known root but invalid fields → 'bad-request' with root and id
// (spec 3: ack 400), unknown roots → 'unrecognized-stanza', and builder input validation.
import { describe, expect, it } from 'vitest';
import { buildStanza, parseStanza } from '../../src/protocol/index.ts';
import type { Stanza } from '../../src/protocol/index.ts';
import { expectProtocolError } from './helpers.ts';

const IN = (attrs: string, enc = '<enc v="1" type="msg">AAEC</enc>'): string =>
  `<message id="8F2A11C0" from="447700900123@hub" participant="447700900123:3@hub" type="text" t="1763800100"${attrs}>${enc}</message>`;

describe('unknown roots', () => {
  it('gives unrecognized-stanza with root and a valid id', () => {
    expectProtocolError(() => parseStanza('<presence id="abcdefgh" to="1@hub"/>'), 'unrecognized-stanza', { root: 'presence', id: 'abcdefgh' });
    expectProtocolError(() => parseStanza('<presence/>'), 'unrecognized-stanza', { root: 'presence', id: undefined });
    expectProtocolError(() => parseStanza('<presence id="short"/>'), 'unrecognized-stanza', { root: 'presence', id: undefined });
    expectProtocolError(() => parseStanza('<Message id="abcdefgh"/>'), 'unrecognized-stanza', { root: 'Message' });
  });
});

describe('bad-request with root and id', () => {
  const cases: Array<[string, string, string, string | undefined]> = [
    ['message id too short', '<message id="1234567" to="447700900123@hub" type="text"><participants/></message>', 'message', undefined],
    ['message id too long', `<message id="${'a'.repeat(65)}" to="447700900123@hub" type="text"><participants/></message>`, 'message', undefined],
    ['message id with a dot', '<message id="abc.defgh" to="447700900123@hub" type="text"><participants/></message>', 'message', undefined],
    ['message without to or from', '<message id="3EB0C4F1A2" type="text"><participants/></message>', 'message', '3EB0C4F1A2'],
    ['message with to and from', '<message id="3EB0C4F1A2" to="1@hub" from="2@hub" participant="2:0@hub" t="1" type="text"><participants/><enc v="1" type="msg"/></message>', 'message', '3EB0C4F1A2'],
    ['outgoing without participants', '<message id="3EB0C4F1A2" to="447700900123@hub" type="text"/>', 'message', '3EB0C4F1A2'],
    ['outgoing to a device address', '<message id="3EB0C4F1A2" to="447700900123:0@hub" type="text"><participants/></message>', 'message', '3EB0C4F1A2'],
    ['participant jid is a user', '<message id="3EB0C4F1A2" to="447700900123@hub" type="text"><participants><to jid="447700900123@hub"><enc v="1" type="msg">AA==</enc></to></participants></message>', 'message', '3EB0C4F1A2'],
    ['to without enc', '<message id="3EB0C4F1A2" to="447700900123@hub" type="text"><participants><to jid="447700900123:0@hub"/></participants></message>', 'message', '3EB0C4F1A2'],
    ['bad dhash', '<message id="3EB0C4F1A2" to="447700900123@hub" type="text" dhash="3:pYHTvpwl"><participants/></message>', 'message', '3EB0C4F1A2'],
    ['media without mediatype', '<message id="3EB0C4F1A2" to="447700900123@hub" type="media"><participants><to jid="447700900123:0@hub"><enc v="1" type="msg">AA==</enc></to></participants></message>', 'message', '3EB0C4F1A2'],
    ['incoming without t', IN('').replace(' t="1763800100"', ''), 'message', '8F2A11C0'],
    ['incoming without participant', IN('').replace(' participant="447700900123:3@hub"', ''), 'message', '8F2A11C0'],
    ['incoming without enc', IN('', ''), 'message', '8F2A11C0'],
    ['incoming with two encs', IN('', '<enc v="1" type="msg">AA==</enc><enc v="1" type="msg">AA==</enc>'), 'message', '8F2A11C0'],
    ['enc v="2"', IN('', '<enc v="2" type="msg">AA==</enc>'), 'message', '8F2A11C0'],
    ['enc without v', IN('', '<enc type="msg">AA==</enc>'), 'message', '8F2A11C0'],
    ['enc of unknown type', IN('', '<enc v="1" type="signal">AA==</enc>'), 'message', '8F2A11C0'],
    ['enc count 0', IN('', '<enc v="1" type="msg" count="0">AA==</enc>'), 'message', '8F2A11C0'],
    ['enc with child elements', IN('', '<enc v="1" type="msg">AA==<x/></enc>'), 'message', '8F2A11C0'],
    ['offline="yes"', IN(' offline="yes"'), 'message', '8F2A11C0'],
    ['t with leading zero', IN('').replace('t="1763800100"', 't="01763800100"'), 'message', '8F2A11C0'],
    ['t with sign', IN('').replace('t="1763800100"', 't="+1763800100"'), 'message', '8F2A11C0'],
    ['t in exponent form', IN('').replace('t="1763800100"', 't="1e9"'), 'message', '8F2A11C0'],
    ['t with spaces', IN('').replace('t="1763800100"', 't=" 1763800100"'), 'message', '8F2A11C0'],
    ['t hexadecimal', IN('').replace('t="1763800100"', 't="0x10"'), 'message', '8F2A11C0'],
    ['t beyond 2^53', IN('').replace('t="1763800100"', 't="9007199254740993"'), 'message', '8F2A11C0'],
    ['base64 without padding', IN('', '<enc v="1" type="msg">AAE</enc>'), 'message', '8F2A11C0'],
    ['base64 url-safe alphabet', IN('', '<enc v="1" type="msg">A-_A</enc>'), 'message', '8F2A11C0'],
    ['base64 with whitespace', IN('', '<enc v="1" type="msg"> AAEC</enc>'), 'message', '8F2A11C0'],
    ['base64 with line break', IN('', '<enc v="1" type="msg">AAEC\nAAEC</enc>'), 'message', '8F2A11C0'],
    ['base64 non-canonical bits', IN('', '<enc v="1" type="msg">QR==</enc>'), 'message', '8F2A11C0'],
    ['hub address with +', IN('').replace('from="447700900123@hub"', 'from="+447700900123@hub"'), 'message', '8F2A11C0'],
    ['hub address of 16 digits', IN('').replace('from="447700900123@hub"', 'from="4477009001231234@hub"'), 'message', '8F2A11C0'],
    ['device with leading zero', IN('').replace('participant="447700900123:3@hub"', 'participant="447700900123:03@hub"'), 'message', '8F2A11C0'],
    ['provider device other than 1', IN('').replace('participant="447700900123:3@hub"', 'participant="alice:2@birdy.interop"'), 'message', '8F2A11C0'],
    ['upper-case provider local', IN('').replace('from="447700900123@hub"', 'from="Alice@birdy.interop"'), 'message', '8F2A11C0'],
    ['receipt without to or from', '<receipt id="8F2A11C0"/>', 'receipt', '8F2A11C0'],
    ['receipt type delivery spelled out', '<receipt id="8F2A11C0" to="447700900123@hub" type="delivery"/>', 'receipt', '8F2A11C0'],
    ['receipt list item with bad id', '<receipt id="8F2A11C0" to="447700900123@hub" type="read"><list><item id="x"/></list></receipt>', 'receipt', '8F2A11C0'],
    ['retry receipt without retry', '<receipt id="8F2A11C0" to="447700900123@hub" type="retry"><registration>AAAAAQ==</registration></receipt>', 'receipt', '8F2A11C0'],
    ['retry receipt without registration', '<receipt id="8F2A11C0" to="447700900123@hub" type="retry"><retry count="1" t="1"/></receipt>', 'receipt', '8F2A11C0'],
    ['registration of 3 bytes', '<receipt id="8F2A11C0" to="447700900123@hub" type="retry"><retry count="1" t="1"/><registration>AAAB</registration></receipt>', 'receipt', '8F2A11C0'],
    ['retry keys without kyber', '<receipt id="8F2A11C0" to="447700900123@hub" type="retry"><retry count="2" t="1"/><registration>AAAAAQ==</registration><keys><registration>AAAAAQ==</registration><identity>AA==</identity><skey><id>1</id><value>AA==</value><signature>AA==</signature></skey></keys></receipt>', 'receipt', '8F2A11C0'],
    ['ack without class', '<ack id="3EB0C4F1A2"/>', 'ack', '3EB0C4F1A2'],
    ['ack error not a code', '<ack class="message" id="3EB0C4F1A2" error="4000"/>', 'ack', '3EB0C4F1A2'],
    ['ack with a bad id', '<ack class="message" id="x"/>', 'ack', undefined],
    ['ack 406 without feature', '<ack class="message" id="3EB0C4F1A2" error="406" reason="unsupported-in-interop"><unsupported/></ack>', 'ack', '3EB0C4F1A2'],
    ['iq without type', '<iq id="keys0003" xmlns="encrypt"><count/></iq>', 'iq', 'keys0003'],
    ['iq get without xmlns', '<iq id="keys0003" type="get"><count/></iq>', 'iq', 'keys0003'],
    ['iq unknown xmlns', '<iq id="keys0003" type="get" xmlns="jabber:iq:roster"><query/></iq>', 'iq', 'keys0003'],
    ['iq encrypt get without payload', '<iq id="keys0003" type="get" xmlns="encrypt"/>', 'iq', 'keys0003'],
    ['iq encrypt get with two payloads', '<iq id="keys0003" type="get" xmlns="encrypt"><count/><key/></iq>', 'iq', 'keys0003'],
    ['iq devices with type set', '<iq id="devs0001" type="set" xmlns="devices"><user jid="447700900123@hub"/></iq>', 'iq', 'devs0001'],
    ['iq enlist with type get', '<iq id="intr0001" type="get" xmlns="interop"><enlist/></iq>', 'iq', 'intr0001'],
    ['iq lookup without +', '<iq id="look0001" type="get" xmlns="directory"><lookup phone="447700900123"/></iq>', 'iq', 'look0001'],
    ['iq prekey id of 2^24', '<iq id="keys0001" type="set" xmlns="encrypt"><list><key><id>16777216</id><value>AA==</value></key></list></iq>', 'iq', 'keys0001'],
    ['iq result with two payloads', '<iq id="keys0003" type="result"><count value="1" kyber="1"/><status enlisted="true"/></iq>', 'iq', 'keys0003'],
    ['iq result status maybe', '<iq id="intr0002" type="result"><status enlisted="maybe"/></iq>', 'iq', 'intr0002'],
    ['iq error without error child', '<iq id="devs0001" type="error"/>', 'iq', 'devs0001'],
    ['notification of unknown type', '<notification id="notif0001" type="presence"/>', 'notification', 'notif0001'],
    ['notification devices without dhash', '<notification id="notif0001" type="devices" from="447700900123@hub"/>', 'notification', 'notif0001'],
    ['notification interop bad state', '<notification id="notif0001" type="interop" from="447700900123@hub" state="on"/>', 'notification', 'notif0001'],
    ['open with a hub user', '<open user="447700900123@hub" token="x"/>', 'open', undefined],
    ['open without token', '<open user="alice@birdy.interop"/>', 'open', undefined],
    ['opened without t', '<opened session="S"/>', 'opened', undefined],
    ['failure with unknown reason', '<failure reason="gone"/>', 'failure', undefined],
    ['chatstate with to and from', '<chatstate to="1@hub" from="2@hub" state="paused"/>', 'chatstate', undefined],
    ['chatstate unknown state', '<chatstate to="1@hub" state="recording"/>', 'chatstate', undefined],
  ];
  it.each(cases)('%s', (_name, frame, root, id) => {
    const err = expectProtocolError(() => parseStanza(frame), 'bad-request', { root, id });
    expect(err.fatal).toBe(false);
  });
});

describe('builder validation', () => {
  const bad: Array<[string, unknown]> = [
    ['null', null],
    ['unknown kind', { kind: 'presence' }],
    ['message id invalid', { kind: 'message', id: 'short', to: '1@hub', type: 'text', participants: [] }],
    ['message without participants', { kind: 'message', id: 'abcdefgh', to: '1@hub', type: 'text' }],
    ['message to a device', { kind: 'message', id: 'abcdefgh', to: '1:0@hub', type: 'text', participants: [] }],
    ['message type with markup', { kind: 'message', id: 'abcdefgh', to: '1@hub', type: 'text"/><x', participants: [] }],
    ['enc v 2', { kind: 'message', id: 'abcdefgh', to: '1@hub', type: 'text', participants: [{ jid: '1:0@hub', enc: { v: 2, type: 'msg', ciphertext: new Uint8Array() } }] }],
    ['enc ciphertext not bytes', { kind: 'message', id: 'abcdefgh', to: '1@hub', type: 'text', participants: [{ jid: '1:0@hub', enc: { v: 1, type: 'msg', ciphertext: 'AA==' } }] }],
    ['enc missing', { kind: 'message', id: 'abcdefgh', to: '1@hub', type: 'text', participants: [{ jid: '1:0@hub' }] }],
    ['media without mediatype', { kind: 'message', id: 'abcdefgh', to: '1@hub', type: 'media', participants: [{ jid: '1:0@hub', enc: { v: 1, type: 'msg', ciphertext: new Uint8Array() } }] }],
    ['negative t', { kind: 'opened', session: 'S', t: -1 }],
    ['fractional t', { kind: 'opened', session: 'S', t: 1.5 }],
    ['NaN t', { kind: 'opened', session: 'S', t: Number.NaN }],
    ['t as string', { kind: 'opened', session: 'S', t: '1' }],
    ['session with space', { kind: 'opened', session: 'a b', t: 1 }],
    ['failure reason unknown', { kind: 'failure', reason: 'gone' }],
    ['ack class with markup', { kind: 'ack', class: 'a"b' }],
    ['ack type on a message ack', { kind: 'ack', class: 'message', type: 'read' }],
    ['ack error 99', { kind: 'ack', class: 'message', error: 99 }],
    ['ack reason with space', { kind: 'ack', class: 'message', error: 400, reason: 'bad request' }],
    ['receipt with to and from', { kind: 'receipt', id: 'abcdefgh', to: '1@hub', from: '2@hub', type: 'read' }],
    ['read receipt with retry fields', { kind: 'receipt', id: 'abcdefgh', to: '1@hub', type: 'read', registration: 1 }],
    ['retry receipt without registration', { kind: 'receipt', id: 'abcdefgh', to: '1@hub', type: 'retry', retry: { count: 1, t: 1 } }],
    ['registration beyond 32 bits', { kind: 'receipt', id: 'abcdefgh', to: '1@hub', type: 'retry', retry: { count: 1, t: 1 }, registration: 2 ** 32 }],
    ['iq op/type mismatch', { kind: 'iq', id: 'abcdefgh', type: 'set', query: { xmlns: 'encrypt', op: 'count' } }],
    ['iq op/xmlns mismatch', { kind: 'iq', id: 'abcdefgh', type: 'get', query: { xmlns: 'devices', op: 'count' } }],
    ['iq unknown op', { kind: 'iq', id: 'abcdefgh', type: 'get', query: { xmlns: 'encrypt', op: 'nope' } }],
    ['iq prekey id too big', { kind: 'iq', id: 'abcdefgh', type: 'set', query: { xmlns: 'encrypt', op: 'upload', preKeys: [{ id: 2 ** 24, value: new Uint8Array() }] } }],
    ['iq type unknown', { kind: 'iq', id: 'abcdefgh', type: 'push', query: { xmlns: 'interop', op: 'status' } }],
    ['iq result unknown op', { kind: 'iq', id: 'abcdefgh', type: 'result', result: { op: 'nope' } }],
    ['iq result lookup jid device', { kind: 'iq', id: 'abcdefgh', type: 'result', result: { op: 'lookup', jid: '1:0@hub' } }],
    ['notification unknown type', { kind: 'notification', id: 'abcdefgh', type: 'presence' }],
    ['notification encrypt without count', { kind: 'notification', id: 'abcdefgh', type: 'encrypt' }],
    ['chatstate without direction', { kind: 'chatstate', state: 'paused' }],
    ['open token lone surrogate', { kind: 'open', user: 'alice@birdy.interop', token: '\ud800' }],
  ];
  it.each(bad)('%s → bad-request', (_name, s) => {
    expectProtocolError(() => buildStanza(s as Stanza), 'bad-request');
  });
});
