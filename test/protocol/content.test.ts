// Content codec (spec 11): padding, text limit, structure, media attributes, hostile documents.
import { describe, expect, it } from 'vitest';
import { decodeContent, encodeContent, MAX_TEXT_CODE_POINTS } from '../../src/protocol/index.ts';
import type { Content } from '../../src/protocol/index.ts';
import { expectProtocolError } from './helpers.ts';

const enc = new TextEncoder();
const dec = new TextDecoder();
const base: Content = { id: '3EB0C4F1A2', t: 1763800000, text: 'Hello from BirdyChat' };
const withPad = (xml: string, pad: number[]): Uint8Array => Uint8Array.from([...enc.encode(xml), ...pad]);
const doc = (inner: string, attrs = 'id="3EB0C4F1A2" t="1763800000"'): string => `<content xmlns="urn:hip:content:1" ${attrs}>${inner}</content>`;

describe('padding', () => {
  it.each(Array.from({ length: 16 }, (_, i) => i + 1))('accepts padding length %i and strips it', (n) => {
    const bytes = encodeContent(base, n);
    expect(Array.from(bytes.slice(-n))).toEqual(Array(n).fill(n));
    expect(dec.decode(bytes.slice(0, -n))).toBe('<content xmlns="urn:hip:content:1" id="3EB0C4F1A2" t="1763800000"><text>Hello from BirdyChat</text></content>');
    expect(decodeContent(bytes)).toEqual(base);
  });

  it('picks a random padding length 1–16 when none is given', () => {
    const seen = new Set<number>();
    for (let i = 0; i < 400; i++) {
      const bytes = encodeContent(base);
      const n = bytes[bytes.length - 1] as number;
      expect(n).toBeGreaterThanOrEqual(1);
      expect(n).toBeLessThanOrEqual(16);
      seen.add(n);
      expect(decodeContent(bytes)).toEqual(base);
    }
    expect(seen.size).toBeGreaterThan(10);
  });

  it('rejects bad padding', () => {
    const xml = doc('<text>x</text>');
    expectProtocolError(() => decodeContent(withPad(xml, [0])), 'bad-content');
    expectProtocolError(() => decodeContent(withPad(xml, Array(17).fill(17))), 'bad-content');
    expectProtocolError(() => decodeContent(withPad(xml, [3, 2, 3])), 'bad-content');
    expectProtocolError(() => decodeContent(withPad(xml, [2, 3, 3])), 'bad-content');
    expectProtocolError(() => decodeContent(withPad(xml, [])), 'bad-content');
    expectProtocolError(() => decodeContent(new Uint8Array()), 'bad-content');
    expectProtocolError(() => decodeContent(Uint8Array.from([1])), 'bad-content');
    expectProtocolError(() => decodeContent(Uint8Array.from([5, 5, 5])), 'bad-content');
    expectProtocolError(() => encodeContent(base, 0), 'bad-content');
    expectProtocolError(() => encodeContent(base, 17), 'bad-content');
    expectProtocolError(() => encodeContent(base, 1.5), 'bad-content');
  });
});

describe('text limit (65,536 code points)', () => {
  it('accepts exactly 65,536 code points and rejects 65,537, counting astral characters once', () => {
    for (const ch of ['a', '😀']) {
      const ok: Content = { ...base, text: ch.repeat(MAX_TEXT_CODE_POINTS) };
      expect(decodeContent(encodeContent(ok, 1))).toEqual(ok);
      const tooLong = ch.repeat(MAX_TEXT_CODE_POINTS + 1);
      expectProtocolError(() => encodeContent({ ...base, text: tooLong }, 1), 'bad-content');
      expectProtocolError(() => decodeContent(withPad(doc(`<text>${tooLong}</text>`), [1])), 'bad-content');
    }
  });

  it('accepts the longest text even when every character needs escaping', () => {
    const c: Content = { ...base, text: '&'.repeat(MAX_TEXT_CODE_POINTS) };
    expect(decodeContent(encodeContent(c, 16))).toEqual(c);
  });
});

describe('structure', () => {
  const media = {
    kind: 'image' as const, mime: 'image/jpeg', size: 123456, sha256: new Uint8Array(32).fill(1), encSha256: new Uint8Array(32).fill(2),
    key: new Uint8Array(32).fill(3), nonce: new Uint8Array(12).fill(4), url: 'https://media.birdy.example/m/abc?sig=1&x=2',
    filename: 'IMG "1" <a&b>.jpg', width: 640, height: 480, durationMs: 0, caption: 'look\tat\nthis',
  };

  it('round-trips every child and every media attribute', () => {
    const c: Content = {
      id: '3EB0C4F1A2', t: 1, text: ' spaced \r\n text ', media, reply: { to: '8F2A11C0', sender: '447700900123@hub' },
      fallbacks: [{ for: 'sticker', text: '[sticker: 😀]' }, { for: 'poll', text: '' }],
    };
    const bytes = encodeContent(c, 4);
    const xml = dec.decode(bytes.slice(0, -4));
    for (const a of ['kind=', 'mime=', 'size=', 'sha256=', 'enc-sha256=', 'key=', 'nonce=', 'url=', 'filename=', 'width=', 'height=', 'duration-ms=', 'caption=']) {
      expect(xml).toContain(` ${a}"`);
    }
    expect(decodeContent(bytes)).toEqual(c);
  });

  it('ignores <expires> and unknown children, and accepts an XML declaration and comments', () => {
    const xml = `<?xml version="1.0" encoding="utf-8"?>${doc('<!-- c --><expires seconds="60"/><future x="1"/><text>hi</text>')}`;
    expect(decodeContent(withPad(xml, [2, 2]))).toEqual({ id: '3EB0C4F1A2', t: 1763800000, text: 'hi' });
  });

  it('rejects invalid documents with bad-content', () => {
    const bad = [
      doc('<text>a</text><text>b</text>'),
      doc(`<media kind="image"/>`),
      doc('<text>a<b/></text>'),
      doc('<reply to="x" sender="447700900123@hub"/>'),
      doc('<reply to="8F2A11C0" sender="nobody"/>'),
      doc('<fallback>no for</fallback>'),
      doc('', 'id="3EB0C4F1A2"'),
      doc('', 'id="bad" t="1"'),
      doc('', 'id="3EB0C4F1A2" t="-1"'),
      '<content id="3EB0C4F1A2" t="1"/>',
      '<content xmlns="urn:hip:content:2" id="3EB0C4F1A2" t="1"/>',
      '<message xmlns="urn:hip:content:1" id="3EB0C4F1A2" t="1"/>',
      doc('<text>unclosed'),
      `<!DOCTYPE content [<!ENTITY x "y">]>${doc('<text>&x;</text>')}`,
      doc('<text><![CDATA[x]]></text>'),
      doc('<__proto__/>'),
      doc('<text>\u0000</text>'),
      `${doc('')}<content/>`,
    ];
    for (const xml of bad) expectProtocolError(() => decodeContent(withPad(xml, [1])), 'bad-content');
  });

  it('rejects media with wrong key, nonce or hash sizes, and non-http URLs', () => {
    const variants = [
      { ...media, key: new Uint8Array(31) }, { ...media, nonce: new Uint8Array(16) }, { ...media, sha256: new Uint8Array(0) },
      { ...media, url: 'file:///etc/passwd' }, { ...media, url: 'javascript:alert(1)' }, { ...media, url: 'https://a b' },
      { ...media, mime: 'image' }, { ...media, kind: 'sticker' }, { ...media, size: -1 },
    ];
    for (const m of variants) expectProtocolError(() => encodeContent({ ...base, media: m as typeof media }, 1), 'bad-content');
  });

  it('rejects invalid UTF-8 and characters XML cannot carry', () => {
    const good = enc.encode(doc('<text>x</text>'));
    const broken = Uint8Array.from([...good.slice(0, 60), 0xc3, 0x28, ...good.slice(60), 1]);
    expectProtocolError(() => decodeContent(broken), 'bad-content');
    expectProtocolError(() => encodeContent({ ...base, text: 'a\u0000' }, 1), 'bad-content');
    expectProtocolError(() => encodeContent({ ...base, text: '\ud800' }, 1), 'bad-content');
    expectProtocolError(() => encodeContent({ ...base, id: 'bad' }, 1), 'bad-content');
  });

  it('never throws anything but ProtocolError for wrong input types', () => {
    expectProtocolError(() => decodeContent('text' as unknown as Uint8Array), 'bad-content');
    expectProtocolError(() => encodeContent(null as unknown as Content, 1), 'bad-content');
    expectProtocolError(() => encodeContent({ ...base, reply: null } as unknown as Content, 1), 'bad-content');
  });
});
