// The literal examples of docs/spec (hub-protocol.md), with BASE64/… placeholders filled in, parse
// to the expected objects (pretty-printing whitespace and comments included).
import { describe, expect, it } from 'vitest';
import { parseStanza } from '../../src/protocol/index.ts';

const B = 'AAECAw==';
const bytes = Uint8Array.from([0, 1, 2, 3]);

describe('spec examples', () => {
  it('spec 4: outgoing message', () => {
    const frame = `<message id="3EB0C4F1A2" to="447700900123@hub" type="text" t="1763800000" dhash="2:pYHTvpwl">
  <participants>
    <to jid="447700900123:0@hub"><enc v="1" type="pkmsg">${B}</enc></to>
    <to jid="447700900123:3@hub"><enc v="1" type="msg">${B}</enc></to>
  </participants>
</message>`;
    expect(parseStanza(frame)).toEqual({
      kind: 'message', id: '3EB0C4F1A2', to: '447700900123@hub', type: 'text', t: 1763800000, dhash: '2:pYHTvpwl',
      participants: [
        { jid: '447700900123:0@hub', enc: { v: 1, type: 'pkmsg', ciphertext: bytes } },
        { jid: '447700900123:3@hub', enc: { v: 1, type: 'msg', ciphertext: bytes } },
      ],
    });
  });

  it('spec 5: incoming message and its ack', () => {
    expect(parseStanza(`<message id="8F2A11C0" from="447700900123@hub" participant="447700900123:3@hub" type="text" t="1763800100" offline="1">
  <enc v="1" type="msg">${B}</enc>
</message>`)).toEqual({
      kind: 'message', id: '8F2A11C0', from: '447700900123@hub', participant: '447700900123:3@hub', type: 'text', t: 1763800100, offline: true,
      enc: { v: 1, type: 'msg', ciphertext: bytes },
    });
    expect(parseStanza('<ack class="message" id="8F2A11C0" to="447700900123@hub"/>')).toEqual({ kind: 'ack', class: 'message', id: '8F2A11C0', to: '447700900123@hub' });
  });

  it('spec 6.2: retry receipt with the comment of the example', () => {
    expect(parseStanza(`<receipt id="8F2A11C0" to="447700900123@hub" participant="447700900123:3@hub" type="retry">
    <retry count="1" t="1763800100"/>   <!-- t: the original message's t -->
    <registration>AAAwOQ==</registration>
  </receipt>`)).toEqual({
      kind: 'receipt', id: '8F2A11C0', to: '447700900123@hub', participant: '447700900123:3@hub', type: 'retry', retry: { count: 1, t: 1763800100 }, registration: 12345,
    });
  });

  it('spec 6.1: read receipt with a list', () => {
    expect(parseStanza('<receipt id="3EB0AAAA01" to="447700900123@hub" type="read"><list><item id="3EB0AAAA02"/><item id="3EB0AAAA03"/></list></receipt>'))
      .toEqual({ kind: 'receipt', id: '3EB0AAAA01', to: '447700900123@hub', type: 'read', list: ['3EB0AAAA02', '3EB0AAAA03'] });
  });

  it('spec 7.1: upload with comments and one-time kyber list', () => {
    const s = parseStanza(`<iq id="keys0001" type="set" xmlns="encrypt">
  <registration>AAAAAQ==</registration>
  <identity>${B}</identity>
  <skey><id>1</id><value>${B}</value><signature>${B}</signature></skey>
  <kyber><id>1</id><value>${B}</value><signature>${B}</signature></kyber>   <!-- last-resort Kyber prekey -->
  <list>
    <key><id>1</id><value>${B}</value></key>
  </list>
  <kyber-list>
    <kyber><id>2</id><value>${B}</value><signature>${B}</signature></kyber>
  </kyber-list>
</iq>`);
    expect(s).toEqual({
      kind: 'iq', id: 'keys0001', type: 'set', query: {
        xmlns: 'encrypt', op: 'upload', registration: 1, identity: bytes,
        skey: { id: 1, value: bytes, signature: bytes }, kyber: { id: 1, value: bytes, signature: bytes },
        preKeys: [{ id: 1, value: bytes }], kyberPreKeys: [{ id: 2, value: bytes, signature: bytes }],
      },
    });
  });

  it('spec 7.2: bundle result with a per-user error', () => {
    const s = parseStanza(`<iq id="keys0002" type="result"><list>
  <user jid="447700900123:0@hub">
    <registration>AAAAAQ==</registration><identity>${B}</identity>
    <skey><id>1</id><value>${B}</value><signature>${B}</signature></skey>
    <kyber><id>2</id><value>${B}</value><signature>${B}</signature></kyber>
    <key><id>3</id><value>${B}</value></key>
  </user>
  <user jid="447700900123:3@hub"><error code="404" reason="no-such-device"/></user>
</list></iq>`);
    expect(s).toEqual({
      kind: 'iq', id: 'keys0002', type: 'result', result: {
        op: 'bundles', users: [
          { jid: '447700900123:0@hub', bundle: { registration: 1, identity: bytes, skey: { id: 1, value: bytes, signature: bytes }, kyber: { id: 2, value: bytes, signature: bytes }, key: { id: 3, value: bytes } } },
          { jid: '447700900123:3@hub', error: { code: 404, reason: 'no-such-device' } },
        ],
      },
    });
  });

  it('spec 8: notifications', () => {
    expect(parseStanza('<notification id="notif001" type="encrypt"><count value="4" kyber="0"/></notification>'))
      .toEqual({ kind: 'notification', id: 'notif001', type: 'encrypt', count: { value: 4, kyber: 0 } });
    expect(parseStanza('<notification id="notif002" type="providers"><provider id="haiket" name="Haiket"/></notification>'))
      .toEqual({ kind: 'notification', id: 'notif002', type: 'providers', providers: [{ id: 'haiket', name: 'Haiket' }] });
  });

  it('spec 10/11: lookup, status and features', () => {
    expect(parseStanza('<iq id="look0001" type="result"><result jid="447700900123@hub" name="optional display name"/></iq>'))
      .toEqual({ kind: 'iq', id: 'look0001', type: 'result', result: { op: 'lookup', jid: '447700900123@hub', name: 'optional display name' } });
    expect(parseStanza('<iq id="intr0002" type="result"><status enlisted="false"/></iq>'))
      .toEqual({ kind: 'iq', id: 'intr0002', type: 'result', result: { op: 'status', enlisted: false } });
    expect(parseStanza('<iq id="feat0001" type="result"><features><kind name="text"/><kind name="image" max-size="16777216"/><unsupported name="sticker"/></features></iq>'))
      .toEqual({ kind: 'iq', id: 'feat0001', type: 'result', result: { op: 'features', kinds: [{ name: 'text' }, { name: 'image', maxSize: 16777216 }], unsupported: ['sticker'] } });
  });

  it('spec 2: session frames, with an XML declaration', () => {
    expect(parseStanza('<?xml version="1.0" encoding="UTF-8"?>\n<open user="alice@birdy.interop" token="JWT"/>')).toEqual({ kind: 'open', user: 'alice@birdy.interop', token: 'JWT' });
    expect(parseStanza('<opened session="S" t="1763800000"/>')).toEqual({ kind: 'opened', session: 'S', t: 1763800000 });
    expect(parseStanza('<failure reason="conflict"/>')).toEqual({ kind: 'failure', reason: 'conflict' });
    expect(parseStanza('<close reason="idle"/>')).toEqual({ kind: 'close', reason: 'idle' });
  });

  it('unknown attributes and unknown children of message, receipt and notification are ignored (spec 3)', () => {
    expect(parseStanza(`<message id="8F2A11C0" from="447700900123@hub" participant="447700900123:3@hub" type="text" t="1" future="x"><future/><enc v="1" type="msg" x="y">${B}</enc></message>`))
      .toEqual({ kind: 'message', id: '8F2A11C0', from: '447700900123@hub', participant: '447700900123:3@hub', type: 'text', t: 1, enc: { v: 1, type: 'msg', ciphertext: bytes } });
    expect(parseStanza('<receipt id="8F2A11C0" to="447700900123@hub" new="1"><extra><deep/></extra></receipt>'))
      .toEqual({ kind: 'receipt', id: '8F2A11C0', to: '447700900123@hub', type: 'delivery' });
    expect(parseStanza('<notification id="notif003" type="identity" from="447700900123@hub" seq="9"><why/></notification>'))
      .toEqual({ kind: 'notification', id: 'notif003', type: 'identity', from: '447700900123@hub' });
  });
});
