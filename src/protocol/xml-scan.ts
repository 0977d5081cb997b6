// A single-pass, non-recursive XML 1.0 well-formedness scanner that runs before fast-xml-parser
// (which accepts unclosed tags, two roots and more, design.md). It enforces spec 3:
//   - not well-formed (→ 'not-well-formed'): illegal characters, bad names, unclosed or mismatched
//     tags, duplicate attributes, `<` in attribute values, bad references, text or a second element
//     outside the root, `]]>` in text, malformed comments, a misplaced or odd XML declaration;
//   - well-formed but forbidden (→ 'forbidden-construct'): DOCTYPE and any other markup declaration
//     (`<!ENTITY` …), processing instructions other than the leading XML declaration, CDATA sections
//     (our decision: no second text path to get wrong; the builder never emits them), nesting deeper
//     than MAX_DEPTH, and the names __proto__/constructor/prototype (prototype-pollution bait).
// Comments are allowed and ignored (the spec's own examples contain them).
// The whole frame is scanned even after a forbidden construct, so that "not well-formed" always
// wins (spec 3: that closes the session, a forbidden construct is only answered with an ack) and
// the root name and id are known for the ack. The element stack is an array: no recursion, so a
// depth of 100,000 costs memory proportional to the (size-capped) frame and nothing else.
import { MAX_DEPTH, ProtocolError } from './errors.ts';
import { isValidId } from './ids.ts';
import { checkRefs, decodeAttr, hasIllegalChar } from './xml-text.ts';

const NAME_START = ':A-Z_a-z\\u00C0-\\u00D6\\u00D8-\\u00F6\\u00F8-\\u02FF\\u0370-\\u037D\\u037F-\\u1FFF'
  + '\\u200C-\\u200D\\u2070-\\u218F\\u2C00-\\u2FEF\\u3001-\\uD7FF\\uF900-\\uFDCF\\uFDF0-\\uFFFD\\u{10000}-\\u{EFFFF}';
const NAME_CHAR = NAME_START + '\\-.0-9\\u00B7\\u0300-\\u036F\\u203F-\\u2040';
/** XML 1.0 (5th ed.) `Name`, sticky so it matches exactly at lastIndex. */
// The class deliberately contains combining marks (U+0300–U+036F are NameChars in XML 1.0).
// eslint-disable-next-line no-misleading-character-class
const NAME_RE = new RegExp(`[${NAME_START}][${NAME_CHAR}]*`, 'uy');

const XML_DECL_RE = /^<\?xml[ \t\r\n]+version[ \t\r\n]*=[ \t\r\n]*(?:"1\.0"|'1\.0')(?:[ \t\r\n]+encoding[ \t\r\n]*=[ \t\r\n]*(?:"[Uu][Tt][Ff]-8"|'[Uu][Tt][Ff]-8'))?(?:[ \t\r\n]+standalone[ \t\r\n]*=[ \t\r\n]*(?:"(?:yes|no)"|'(?:yes|no)'))?[ \t\r\n]*\?>$/;

/** Names that must never become object keys anywhere (fast-xml-parser throws on them). */
export const FORBIDDEN_NAMES: ReadonlySet<string> = new Set(['__proto__', 'constructor', 'prototype']);

export interface ScanResult {
  /** Root element name. */
  root: string;
  /** Decoded `id` attribute of the root, if any (not validated). */
  rootId: string | undefined;
  /** Offsets of the root element in the frame: [start, end). */
  rootStart: number;
  rootEnd: number;
  /** Element names in document order and the number of attributes of each (cross-check of the tree). */
  names: string[];
  attrCounts: number[];
}

function isWs(c: number): boolean {
  return c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d;
}

class Scanner {
  readonly s: string;
  i = 0;
  root: string | undefined;
  rootId: string | undefined;
  rootStart = -1;
  forbidden: string | undefined;
  sawDoctype = false;
  readonly stack: string[] = [];
  readonly names: string[] = [];
  readonly attrCounts: number[] = [];

  constructor(s: string) {
    this.s = s;
  }

  /** Root and id for error reports; an id is only reported when it is valid (it will be echoed). */
  where(): { root?: string; id?: string } {
    return { root: this.root, id: this.rootId !== undefined && isValidId(this.rootId) ? this.rootId : undefined };
  }

  fail(msg: string): never {
    throw new ProtocolError('not-well-formed', msg, this.where());
  }

  forbid(msg: string): void {
    this.forbidden ??= msg;
  }

  skipWs(): boolean {
    const start = this.i;
    while (this.i < this.s.length && isWs(this.s.charCodeAt(this.i))) this.i++;
    return this.i > start;
  }

  readName(): string {
    NAME_RE.lastIndex = this.i;
    const m = NAME_RE.exec(this.s);
    if (m === null) this.fail(`invalid name at offset ${this.i}`);
    this.i += m[0].length;
    return m[0];
  }

  expect(lit: string): void {
    if (!this.s.startsWith(lit, this.i)) this.fail(`expected "${lit}" at offset ${this.i}`);
    this.i += lit.length;
  }

  comment(): void {
    const end = this.s.indexOf('-->', this.i + 4);
    if (end < 0) this.fail('unterminated comment');
    const body = this.s.slice(this.i + 4, end);
    if (body.includes('--') || body.endsWith('-')) this.fail('"--" inside a comment');
    this.i = end + 3;
  }

  pi(): void {
    this.i += 2;
    const target = this.readName();
    if (target.toLowerCase() === 'xml') this.fail('misplaced XML declaration');
    const end = this.s.indexOf('?>', this.i);
    if (end < 0) this.fail('unterminated processing instruction');
    if (end !== this.i && !isWs(this.s.charCodeAt(this.i))) this.fail('bad processing instruction');
    this.forbid('processing instruction');
    this.i = end + 2;
  }

  cdata(): void {
    const end = this.s.indexOf(']]>', this.i + 9);
    if (end < 0) this.fail('unterminated CDATA section');
    this.forbid('CDATA section');
    this.i = end + 3;
  }

  /** `<!DOCTYPE …>`, `<!ENTITY …>` and other declarations: skipped (quotes, subsets, comments) and forbidden. */
  declaration(): void {
    const m = /^<!(DOCTYPE|ENTITY|ELEMENT|ATTLIST|NOTATION)[ \t\r\n]/.exec(this.s.slice(this.i, this.i + 12));
    if (m === null) this.fail(`unexpected "<!" at offset ${this.i}`);
    if (m[1] === 'DOCTYPE') this.sawDoctype = true;
    this.forbid(`${m[1]} declaration`);
    const s = this.s;
    let j = this.i + 2;
    let depth = 0;
    while (j < s.length) {
      const c = s[j];
      if (c === '"' || c === "'") {
        const close = s.indexOf(c, j + 1);
        if (close < 0) break;
        j = close + 1;
      } else if (s.startsWith('<!--', j)) {
        const close = s.indexOf('-->', j + 4);
        if (close < 0) break;
        j = close + 3;
      } else if (c === '[' || (c === '<' && depth > 0)) {
        depth++;
        j++;
      } else if (c === ']' || (c === '>' && depth > 0)) {
        depth--;
        j++;
      } else if (c === '>') {
        this.i = j + 1;
        return;
      } else {
        j++;
      }
    }
    this.fail('unterminated declaration');
  }

  refs(raw: string): void {
    const problem = checkRefs(raw);
    if (problem === undefined) return;
    // An entity that a forbidden DOCTYPE may have declared is part of that construct.
    if (problem === 'undeclared-entity' && this.sawDoctype) this.forbid('entity reference');
    else this.fail(problem === 'undeclared-entity' ? 'reference to an undeclared entity' : 'malformed reference');
  }

  startTag(): void {
    this.i++;
    const isRoot = this.root === undefined;
    const name = this.readName();
    if (isRoot) this.root = name;
    if (FORBIDDEN_NAMES.has(name)) this.forbid(`forbidden element name ${name}`);
    this.names.push(name);
    const countIndex = this.attrCounts.push(0) - 1;
    const seen = new Set<string>();
    let empty = false;
    for (;;) {
      const hadWs = this.skipWs();
      const c = this.s[this.i];
      if (c === '/') {
        this.expect('/>');
        empty = true;
        break;
      }
      if (c === '>') {
        this.i++;
        this.stack.push(name);
        break;
      }
      if (c === undefined) this.fail('unterminated start tag');
      if (!hadWs) this.fail(`expected whitespace before attribute at offset ${this.i}`);
      const attr = this.readName();
      if (FORBIDDEN_NAMES.has(attr)) this.forbid(`forbidden attribute name ${attr}`);
      if (seen.has(attr)) this.fail(`duplicate attribute ${attr}`);
      seen.add(attr);
      this.attrCounts[countIndex] = seen.size;
      this.skipWs();
      this.expect('=');
      this.skipWs();
      const q = this.s[this.i];
      if (q !== '"' && q !== "'") this.fail('attribute value must be quoted');
      const end = this.s.indexOf(q, this.i + 1);
      if (end < 0) this.fail('unterminated attribute value');
      const raw = this.s.slice(this.i + 1, end);
      if (raw.includes('<')) this.fail('"<" in attribute value');
      this.refs(raw);
      if (isRoot && attr === 'id') this.rootId = decodeAttr(raw);
      this.i = end + 1;
    }
    if (this.stack.length + (empty ? 1 : 0) > MAX_DEPTH) this.forbid(`nesting deeper than ${MAX_DEPTH}`);
  }

  endTag(): void {
    this.i += 2;
    const name = this.readName();
    this.skipWs();
    this.expect('>');
    const open = this.stack.pop();
    if (open !== name) this.fail(`end tag ${name} does not match ${open ?? 'nothing'}`);
  }

  /** Comments, PIs and whitespace before or after the root element. */
  misc(): boolean {
    this.skipWs();
    if (this.i >= this.s.length) return false;
    if (this.s.startsWith('<!--', this.i)) this.comment();
    else if (this.s.startsWith('<?', this.i)) this.pi();
    else if (this.s.startsWith('<!', this.i) && this.root === undefined) this.declaration();
    else return false;
    return true;
  }

  run(): ScanResult {
    const s = this.s;
    if (s.charCodeAt(0) === 0xfeff) this.i = 1;
    if (hasIllegalChar(s)) this.fail('character not allowed in XML 1.0');
    if (s.startsWith('<?xml', this.i) && (isWs(s.charCodeAt(this.i + 5)) || s[this.i + 5] === '?')) {
      const end = s.indexOf('?>', this.i);
      if (end < 0 || !XML_DECL_RE.test(s.slice(this.i, end + 2))) this.fail('bad XML declaration');
      this.i = end + 2;
    }
    while (this.misc()) { /* prolog */ }
    if (s[this.i] !== '<') this.fail(this.i >= s.length ? 'no root element' : 'text before the root element');
    this.rootStart = this.i;
    this.startTag();
    while (this.stack.length > 0) {
      const lt = s.indexOf('<', this.i);
      if (lt < 0) this.fail('unclosed element');
      if (lt > this.i) {
        const raw = s.slice(this.i, lt);
        if (raw.includes(']]>')) this.fail('"]]>" in text');
        this.refs(raw);
        this.i = lt;
      }
      if (s.startsWith('</', lt)) this.endTag();
      else if (s.startsWith('<!--', lt)) this.comment();
      else if (s.startsWith('<![CDATA[', lt)) this.cdata();
      else if (s.startsWith('<?', lt)) this.pi();
      else if (s.startsWith('<!', lt)) this.declaration();
      else this.startTag();
    }
    const rootEnd = this.i;
    while (this.misc()) { /* epilog */ }
    if (this.i < s.length) this.fail(s[this.i] === '<' ? 'more than one root element' : 'text after the root element');
    if (this.forbidden !== undefined) {
      throw new ProtocolError('forbidden-construct', this.forbidden, this.where());
    }
    return {
      root: this.root as string, rootId: this.rootId, rootStart: this.rootStart, rootEnd,
      names: this.names, attrCounts: this.attrCounts,
    };
  }
}

/** Scans a whole document; throws ProtocolError ('not-well-formed' or 'forbidden-construct'). */
export function scanXml(s: string): ScanResult {
  return new Scanner(s).run();
}
