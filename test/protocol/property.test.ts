// Property-based tests (fast-check): valid stanzas and content round-trip exactly; random and
// mutated frames/bytes never raise anything but ProtocolError, and whatever parses re-builds to
// the same value.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { buildStanza, decodeContent, encodeContent, parseStanza, ProtocolError } from '../../src/protocol/index.ts';
import type { Stanza } from '../../src/protocol/index.ts';
import { content, stanza } from './arbitraries.ts';

/** Parses; if that succeeds, the value must rebuild and reparse to itself. Anything thrown must be a ProtocolError. */
function parseOrProtocolError(frame: string): void {
  let s: Stanza;
  try {
    s = parseStanza(frame);
  } catch (e) {
    if (!(e instanceof ProtocolError)) throw new Error(`non-ProtocolError for ${JSON.stringify(frame.slice(0, 200))}: ${String(e)}`, { cause: e });
    return;
  }
  const rebuilt = buildStanza(s);
  expect(parseStanza(rebuilt)).toEqual(s);
  expect(buildStanza(parseStanza(rebuilt))).toBe(rebuilt);
}

const xmlish = fc.constantFrom(
  '<', '>', '/', '=', '"', "'", '&', ';', '#', 'x', '!', '?', '[', ']', '-', ' ', '\t', '\n', '\r', '\u0000', '\u0001', '\ud800', '\udc00', '\uffff',
  'a', 'id', ':', '0', '9', '@', 'é', '😀', '&amp;', '&#0;', '&#x41;', '<!--', '-->', '<![CDATA[', ']]>', '<?', '?>', '<!DOCTYPE ', '__proto__',
);

type Mutation = { op: 'insert' | 'delete' | 'replace' | 'duplicate' | 'truncate'; at: number; len: number; text: string };
const mutation: fc.Arbitrary<Mutation> = fc.record({
  op: fc.constantFrom('insert', 'delete', 'replace', 'duplicate', 'truncate'),
  at: fc.nat(),
  len: fc.integer({ min: 1, max: 12 }),
  text: fc.string({ unit: xmlish, minLength: 1, maxLength: 3 }),
});

function mutate(s: string, muts: Mutation[]): string {
  let out = s;
  for (const m of muts) {
    const at = out.length === 0 ? 0 : m.at % (out.length + 1);
    switch (m.op) {
      case 'insert': out = out.slice(0, at) + m.text + out.slice(at); break;
      case 'delete': out = out.slice(0, at) + out.slice(at + m.len); break;
      case 'replace': out = out.slice(0, at) + m.text + out.slice(at + m.text.length); break;
      case 'duplicate': out = out.slice(0, at + m.len) + out.slice(at, at + m.len) + out.slice(at + m.len); break;
      case 'truncate': out = out.slice(0, at); break;
    }
  }
  return out;
}

function mutateBytes(b: Uint8Array, muts: Mutation[]): Uint8Array {
  let out = Array.from(b);
  for (const m of muts) {
    const at = out.length === 0 ? 0 : m.at % (out.length + 1);
    const byte = (m.text.codePointAt(0) ?? 0) & 0xff;
    switch (m.op) {
      case 'insert': out.splice(at, 0, byte); break;
      case 'delete': out.splice(at, m.len); break;
      case 'replace': out[at] = byte; break;
      case 'duplicate': out.splice(at + m.len, 0, ...out.slice(at, at + m.len)); break;
      case 'truncate': out = out.slice(0, at); break;
    }
  }
  return Uint8Array.from(out);
}

describe('property: valid values round-trip exactly', () => {
  it('parseStanza(buildStanza(s)) deep-equals s, and building is stable', () => {
    fc.assert(fc.property(stanza, (s) => {
      const frame = buildStanza(s);
      const parsed = parseStanza(frame);
      expect(parsed).toEqual(s);
      expect(buildStanza(parsed)).toBe(frame);
    }), { numRuns: 3000 });
  });

  it('decodeContent(encodeContent(c, pad)) deep-equals c for every padding length', () => {
    fc.assert(fc.property(content, fc.integer({ min: 1, max: 16 }), (c, pad) => {
      const bytes = encodeContent(c, pad);
      expect(bytes[bytes.length - 1]).toBe(pad);
      expect(decodeContent(bytes)).toEqual(c);
    }), { numRuns: 1000 });
  });
});

describe('property: hostile input only ever raises ProtocolError', () => {
  it('mutated valid frames', () => {
    fc.assert(fc.property(stanza, fc.array(mutation, { minLength: 1, maxLength: 4 }), (s, muts) => {
      parseOrProtocolError(mutate(buildStanza(s), muts));
    }), { numRuns: 3000 });
  });

  it('random strings of XML-ish pieces and of arbitrary code units', () => {
    fc.assert(fc.property(fc.oneof(fc.string({ unit: xmlish, maxLength: 60 }), fc.string({ unit: 'binary', maxLength: 60 }), fc.string({ maxLength: 60 })), (frame) => {
      parseOrProtocolError(frame);
      parseOrProtocolError(`<receipt id="abcdefgh" to="1@hub">${frame}</receipt>`);
    }), { numRuns: 2000 });
  });

  it('decodeContent on random and mutated bytes', () => {
    const check = (b: Uint8Array): void => {
      try {
        const c = decodeContent(b);
        expect(decodeContent(encodeContent(c, 3))).toEqual(c);
      } catch (e) {
        if (!(e instanceof ProtocolError)) throw e;
        expect(e.code).toBe('bad-content');
      }
    };
    fc.assert(fc.property(fc.uint8Array({ maxLength: 200 }), check), { numRuns: 1000 });
    fc.assert(fc.property(content, fc.array(mutation, { minLength: 1, maxLength: 3 }), (c, muts) => {
      check(mutateBytes(encodeContent(c, 4), muts));
    }), { numRuns: 1500 });
  });
});
