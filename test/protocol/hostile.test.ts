// Hostile and malformed frames (spec 3): every one is rejected with a typed ProtocolError of the
// right code — with root/id filled where the hub needs them for `<ack class=ROOT id=ID error=400>` —
// or round-trips unchanged; nothing else is ever thrown and nothing alters structure.
import { describe, expect, it } from 'vitest';
import { buildStanza, MAX_FRAME_BYTES, parseStanza } from '../../src/protocol/index.ts';
import type { Stanza } from '../../src/protocol/index.ts';
import { expectProtocolError } from './helpers.ts';

const RECEIPT = '<receipt id="8F2A11C0" to="447700900123@hub"/>';

describe('size and depth', () => {
  it('rejects a 10 MB frame as too-large before parsing it (fatal, close 1009)', () => {
    const frame = `<receipt id="8F2A11C0" to="447700900123@hub">${'<a>'.repeat(3_500_000)}`;
    const started = performance.now();
    const err = expectProtocolError(() => parseStanza(frame), 'too-large');
    expect(performance.now() - started).toBeLessThan(250);
    expect(err.fatal).toBe(true);
    expect(err.closeCode).toBe(1009);
  });

  it('counts UTF-8 bytes, not UTF-16 units', () => {
    const text = '€'.repeat(90_000); // 90,000 units, 270,000 bytes
    expectProtocolError(() => parseStanza(`<close reason="${text}"/>`), 'too-large');
    expect(parseStanza(`<close reason="${'€'.repeat(80_000)}"/>`)).toEqual({ kind: 'close', reason: '€'.repeat(80_000) });
  });

  it('accepts exactly maxBytes and rejects one byte more; maxBytes is configurable', () => {
    const pad = (n: number): string => RECEIPT + ' '.repeat(n - RECEIPT.length);
    expect(parseStanza(pad(MAX_FRAME_BYTES)).kind).toBe('receipt');
    expectProtocolError(() => parseStanza(pad(MAX_FRAME_BYTES + 1)), 'too-large');
    expectProtocolError(() => parseStanza(RECEIPT, { maxBytes: 20 }), 'too-large');
    expectProtocolError(() => parseStanza(pad(MAX_FRAME_BYTES + 1), { maxBytes: Number.NaN }), 'too-large');
  });

  it('rejects depth 10,000 as forbidden-construct without recursion, with root and id', () => {
    const frame = `<receipt id="8F2A11C0" to="447700900123@hub">${'<a>'.repeat(10_000)}${'</a>'.repeat(10_000)}</receipt>`;
    const err = expectProtocolError(() => parseStanza(frame), 'forbidden-construct', { root: 'receipt', id: '8F2A11C0' });
    expect(err.fatal).toBe(false);
  });

  it('allows nesting 16 deep and forbids 17', () => {
    const nest = (depth: number, selfClosing: boolean): string => {
      const inner = depth - 1; // the root is level 1
      const leaf = selfClosing ? '<x/>' : '<x></x>';
      return `<receipt id="8F2A11C0" to="447700900123@hub">${'<a>'.repeat(inner - 1)}${leaf}${'</a>'.repeat(inner - 1)}</receipt>`;
    };
    for (const selfClosing of [true, false]) {
      expect(parseStanza(nest(16, selfClosing))).toEqual({ kind: 'receipt', id: '8F2A11C0', to: '447700900123@hub', type: 'delivery' });
      expectProtocolError(() => parseStanza(nest(17, selfClosing)), 'forbidden-construct', { root: 'receipt', id: '8F2A11C0' });
    }
  });
});

describe('DTDs, entities, processing instructions, CDATA', () => {
  it('rejects XXE as forbidden-construct with root and id (well-formed frame: ack 400, session stays)', () => {
    const frame = '<!DOCTYPE receipt [<!ENTITY e SYSTEM "file:///etc/passwd">]><receipt id="8F2A11C0" to="447700900123@hub">&e;</receipt>';
    const err = expectProtocolError(() => parseStanza(frame), 'forbidden-construct', { root: 'receipt', id: '8F2A11C0' });
    expect(err.fatal).toBe(false);
    expectProtocolError(() => parseStanza('<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><x>&e;</x>'), 'forbidden-construct', { root: 'x' });
  });

  it('rejects billion laughs quickly, without expanding anything', () => {
    const decls = ['<!ENTITY lol "lol">'];
    for (let i = 1; i <= 9; i++) decls.push(`<!ENTITY lol${i} "${`&lol${i === 1 ? '' : i - 1};`.repeat(10)}">`);
    const frame = `<?xml version="1.0"?><!DOCTYPE lolz [${decls.join('')}]><message id="abcdefgh" to="1@hub" type="text"><participants/>&lol9;</message>`;
    const started = performance.now();
    expectProtocolError(() => parseStanza(frame), 'forbidden-construct', { root: 'message', id: 'abcdefgh' });
    expect(performance.now() - started).toBeLessThan(500);
  });

  it('rejects <!ENTITY in content, processing instructions and CDATA as forbidden-construct with root and id', () => {
    const frames = [
      '<receipt id="8F2A11C0" to="447700900123@hub"><!ENTITY x "y"></receipt>',
      '<receipt id="8F2A11C0" to="447700900123@hub"><?php system("id") ?></receipt>',
      '<?xml-stylesheet href="x"?><receipt id="8F2A11C0" to="447700900123@hub"/>',
      '<receipt id="8F2A11C0" to="447700900123@hub"/><?after?>',
      '<receipt id="8F2A11C0" to="447700900123@hub"><x><![CDATA[<b>&amp;</b>]]></x></receipt>',
    ];
    for (const f of frames) expectProtocolError(() => parseStanza(f), 'forbidden-construct', { root: 'receipt', id: '8F2A11C0' });
  });

  it('a frame that is not well-formed wins over a forbidden construct (close 1007)', () => {
    const err = expectProtocolError(() => parseStanza('<!DOCTYPE x><receipt id="8F2A11C0" to="447700900123@hub"><open></receipt>'), 'not-well-formed');
    expect(err.fatal).toBe(true);
    expect(err.closeCode).toBe(1007);
  });

  it('rejects references to undeclared entities and to characters XML forbids', () => {
    for (const ref of ['&e;', '&#0;', '&#1;', '&#x1F;', '&#xD800;', '&#xFFFE;', '&#x110000;', '&#;', '&#x;', '&amp', '& ', '&a b;']) {
      expectProtocolError(() => parseStanza(`<close reason="${ref}"/>`), 'not-well-formed', { root: 'close' });
      expectProtocolError(() => parseStanza(`<receipt id="8F2A11C0" to="447700900123@hub">${ref}</receipt>`), 'not-well-formed', { root: 'receipt', id: '8F2A11C0' });
    }
  });

  it('decodes the five predefined entities and legal character references exactly once', () => {
    expect(parseStanza('<close reason="&lt;&gt;&amp;&quot;&apos;&#65;&#x1F600;&#9;&#10;&#13;&amp;lt;"/>'))
      .toEqual({ kind: 'close', reason: '<>&"\'A😀\t\n\r&lt;' });
  });

  it('allows comments anywhere and ignores them', () => {
    expect(parseStanza('<!-- a --><receipt id="8F2A11C0" to="447700900123@hub"><!-- <b> & --></receipt><!-- z -->'))
      .toEqual({ kind: 'receipt', id: '8F2A11C0', to: '447700900123@hub', type: 'delivery' });
    expectProtocolError(() => parseStanza('<receipt id="8F2A11C0" to="447700900123@hub"><!-- a -- b --></receipt>'), 'not-well-formed');
    expectProtocolError(() => parseStanza('<receipt id="8F2A11C0" to="447700900123@hub"><!-- a ---></receipt>'), 'not-well-formed');
  });
});

describe('prototype pollution bait', () => {
  const names = ['__proto__', 'constructor', 'prototype'];

  it('rejects them as element and attribute names, at the root and below, with root and id', () => {
    for (const n of names) {
      expectProtocolError(() => parseStanza(`<${n} id="abcdefgh"/>`), 'forbidden-construct', { root: n, id: 'abcdefgh' });
      expectProtocolError(() => parseStanza(`<receipt id="8F2A11C0" to="447700900123@hub"><${n}><polluted>1</polluted></${n}></receipt>`), 'forbidden-construct', { root: 'receipt', id: '8F2A11C0' });
      expectProtocolError(() => parseStanza(`<receipt id="8F2A11C0" to="447700900123@hub" ${n}="x"/>`), 'forbidden-construct', { root: 'receipt', id: '8F2A11C0' });
      expectProtocolError(() => parseStanza(`<message id="abcdefgh" from="1@hub" participant="1:0@hub" type="text" t="1"><enc v="1" type="msg" ${n}="{}">AA==</enc></message>`), 'forbidden-construct', { root: 'message', id: 'abcdefgh' });
    }
    expect(Object.keys(Object.prototype)).toEqual([]);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('treats other Object.prototype names as ordinary unknown elements and attributes', () => {
    expect(parseStanza('<receipt id="8F2A11C0" to="447700900123@hub" toString="1" hasOwnProperty="2"><valueOf/><toString>x</toString></receipt>'))
      .toEqual({ kind: 'receipt', id: '8F2A11C0', to: '447700900123@hub', type: 'delivery' });
    expectProtocolError(() => parseStanza('<toString id="abcdefgh"/>'), 'unrecognized-stanza', { root: 'toString', id: 'abcdefgh' });
  });
});

describe('not well-formed frames are fatal (close 1007)', () => {
  const frames: Array<[string, string]> = [
    ['unclosed root', '<receipt id="8F2A11C0" to="447700900123@hub">'],
    ['unclosed child', '<receipt id="8F2A11C0" to="447700900123@hub"><list></receipt>'],
    ['mismatched tags', '<receipt id="8F2A11C0" to="447700900123@hub"><a></b></receipt>'],
    ['two roots', '<receipt id="8F2A11C0" to="447700900123@hub"/><receipt id="8F2A11C1" to="447700900123@hub"/>'],
    ['text after root', `${RECEIPT}trailing`],
    ['text before root', `x${RECEIPT}`],
    ['empty frame', ''],
    ['whitespace only', ' \n\t'],
    ['no markup', 'hello'],
    ['duplicate attribute', '<receipt id="8F2A11C0" id="8F2A11C1" to="447700900123@hub"/>'],
    ['unquoted attribute', '<receipt id=8F2A11C0 to="447700900123@hub"/>'],
    ['attribute without value', '<receipt id="8F2A11C0" to="447700900123@hub" offline/>'],
    ['< in attribute', '<close reason="a<b"/>'],
    [']]> in text', '<receipt id="8F2A11C0" to="447700900123@hub">]]></receipt>'],
    ['bad name', '<1receipt/>'],
    ['attributes not separated', '<receipt id="8F2A11C0"to="447700900123@hub"/>'],
    ['unterminated comment', `${RECEIPT}<!-- x`],
    ['misplaced XML declaration', ` <?xml version="1.0"?>${RECEIPT}`],
    ['XML declaration of another encoding', `<?xml version="1.0" encoding="ISO-8859-1"?>${RECEIPT}`],
    ['NUL character', '<close reason="a\u0000"/>'],
    ['U+0001 in text', '<receipt id="8F2A11C0" to="447700900123@hub">\u0001</receipt>'],
    ['lone high surrogate', '<close reason="\ud800"/>'],
    ['lone low surrogate in text', '<receipt id="8F2A11C0" to="447700900123@hub">\udc00</receipt>'],
    ['U+FFFF', '<close reason="\uffff"/>'],
  ];
  it.each(frames)('%s', (_name, frame) => {
    const err = expectProtocolError(() => parseStanza(frame), 'not-well-formed');
    expect(err.fatal).toBe(true);
    expect(err.closeCode).toBe(1007);
  });

  it('reports the root and a valid id when they were read before the error', () => {
    expectProtocolError(() => parseStanza('<receipt id="8F2A11C0" to="447700900123@hub"><a>'), 'not-well-formed', { root: 'receipt', id: '8F2A11C0' });
    expectProtocolError(() => parseStanza('<receipt id="bad id!" to="447700900123@hub"><a>'), 'not-well-formed', { root: 'receipt', id: undefined });
  });

  it('never throws anything but ProtocolError for non-string input', () => {
    for (const v of [undefined, null, 42, {}, ['<close/>']]) expectProtocolError(() => parseStanza(v as unknown as string), 'not-well-formed');
  });
});

describe('user text never alters structure', () => {
  const nasty = ['<', '&', '"', "'", '>', '-->', ']]>', '"/><open user="mallory@evil.interop" token="x"/><close reason="', '</iq><iq id="evilevil" type="set" xmlns="interop"><delist/>', '&amp;lt;', '&#0;'];

  const carriers = (t: string): Stanza[] => [
    { kind: 'close', reason: t },
    { kind: 'open', user: 'alice@birdy.interop', token: t },
    { kind: 'iq', id: 'look0001', type: 'result', result: { op: 'lookup', jid: '447700900123@hub', name: t } },
    { kind: 'notification', id: 'notif0001', type: 'providers', providers: [{ id: 'haiket', name: t }] },
  ];

  it.each(nasty)('round-trips %j in attributes without adding markup', (t) => {
    const plain = carriers('x').map(buildStanza);
    carriers(t).forEach((s, i) => {
      const frame = buildStanza(s);
      expect(frame.split('<').length).toBe((plain[i] as string).split('<').length);
      expect(parseStanza(frame)).toEqual(s);
    });
  });

  it('round-trips tab, LF, CR and CRLF in attribute values (as character references)', () => {
    const s: Stanza = { kind: 'close', reason: 'a\tb\nc\rd\r\ne  f' };
    const frame = buildStanza(s);
    expect(frame).toBe('<close reason="a&#9;b&#10;c&#13;d&#13;&#10;e  f"/>');
    expect(parseStanza(frame)).toEqual(s);
  });

  it('normalizes literal whitespace in attribute values and line ends in text as XML requires', () => {
    expect(parseStanza('<close reason="a\tb\nc\r\nd\re"/>')).toEqual({ kind: 'close', reason: 'a b c d e' });
  });

  it('round-trips emoji, astral and combining characters', () => {
    const reason = '😀👩‍👩‍👧 𝄞 \u{10FFFF} \uE000 e\u0301 中文 عربى \u200F';
    expect(parseStanza(buildStanza({ kind: 'close', reason }))).toEqual({ kind: 'close', reason });
  });

  it('the builder rejects characters XML cannot carry with bad-request', () => {
    for (const bad of ['\u0000', '\u0001', '\u001F', '\ud800', 'a\udc00b', '\uFFFE', '\uFFFF']) {
      expectProtocolError(() => buildStanza({ kind: 'close', reason: bad }), 'bad-request');
      expectProtocolError(() => buildStanza({ kind: 'open', user: 'alice@birdy.interop', token: bad }), 'bad-request');
      expectProtocolError(() => buildStanza({ kind: 'iq', id: 'look0001', type: 'result', result: { op: 'lookup', jid: '447700900123@hub', name: `x${bad}` } }), 'bad-request');
    }
  });
});
