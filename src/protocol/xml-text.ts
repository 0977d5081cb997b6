// Character-level XML 1.0 helpers shared by the scanner, the tree reader and the builder:
// legal characters, references, escaping, and the line-end / attribute-value normalisation of
// XML 1.0 sections 2.11 and 3.3.3. No IO.

/** Any character outside XML 1.0 `Char` (section 2.2), including lone surrogates. */
const ILLEGAL_CHAR_RE = /[^\t\n\r\u0020-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]/u;

export function hasIllegalChar(s: string): boolean {
  return ILLEGAL_CHAR_RE.test(s);
}

export function isLegalCodePoint(cp: number): boolean {
  return cp === 0x9 || cp === 0xa || cp === 0xd
    || (cp >= 0x20 && cp <= 0xd7ff) || (cp >= 0xe000 && cp <= 0xfffd) || (cp >= 0x10000 && cp <= 0x10ffff);
}

const PREDEFINED: Readonly<Record<string, string>> = { lt: '<', gt: '>', amp: '&', quot: '"', apos: "'" };

/** Every `&…;` reference, well-formed or not; anything else after `&` is caught by REF_OK_RE. */
const REF_RE = /&(#x[0-9A-Fa-f]+|#[0-9]+|[^;&<\s]*);/g;

export type RefProblem = 'malformed' | 'undeclared-entity';

/**
 * Validates the references in raw text (character data or an attribute value): only the five
 * predefined entities and character references to legal characters are allowed. Returns the
 * first problem, or undefined.
 */
export function checkRefs(raw: string): RefProblem | undefined {
  let amp = raw.indexOf('&');
  while (amp >= 0) {
    const semi = raw.indexOf(';', amp);
    if (semi < 0) return 'malformed';
    const body = raw.slice(amp + 1, semi);
    if (body.startsWith('#')) {
      const cp = body.startsWith('#x') ? parseHex(body.slice(2)) : parseDec(body.slice(1));
      if (cp === undefined || !isLegalCodePoint(cp)) return 'malformed';
    } else if (!Object.hasOwn(PREDEFINED, body)) {
      return /^[A-Za-z_:][A-Za-z0-9_:.-]*$/.test(body) ? 'undeclared-entity' : 'malformed';
    }
    amp = raw.indexOf('&', semi);
  }
  return undefined;
}

function parseHex(s: string): number | undefined {
  if (!/^[0-9A-Fa-f]{1,8}$/.test(s)) return undefined;
  return parseInt(s, 16);
}

function parseDec(s: string): number | undefined {
  if (!/^[0-9]{1,10}$/.test(s)) return undefined;
  return parseInt(s, 10);
}

function decodeRefs(s: string): string {
  if (!s.includes('&')) return s;
  return s.replace(REF_RE, (_m, body: string) => {
    if (body.startsWith('#x')) return String.fromCodePoint(parseInt(body.slice(2), 16));
    if (body.startsWith('#')) return String.fromCodePoint(parseInt(body.slice(1), 10));
    return PREDEFINED[body] ?? '';
  });
}

/** Decodes character data already checked by checkRefs: line ends normalised (XML 2.11), refs resolved. */
export function decodeText(raw: string): string {
  return decodeRefs(raw.replace(/\r\n?/g, '\n'));
}

/** Decodes an attribute value (XML 3.3.3): literal tab/CR/LF become spaces, references are resolved. */
export function decodeAttr(raw: string): string {
  return decodeRefs(raw.replace(/\r\n?|[\t\n]/g, ' '));
}

const TEXT_ESC_RE = /[&<>\r]/g;
const ATTR_ESC_RE = /[&<>"'\t\n\r]/g;
const ESCAPES: Readonly<Record<string, string>> = {
  '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;', '\t': '&#9;', '\n': '&#10;', '\r': '&#13;',
};

/**
 * Escapes character data. `>` is always escaped (so `]]>` cannot occur) and CR as `&#13;` (a literal
 * CR would be normalised away). The caller must have rejected illegal characters (hasIllegalChar).
 */
export function escapeText(s: string): string {
  return s.replace(TEXT_ESC_RE, (c) => ESCAPES[c] ?? c);
}

/** Escapes an attribute value for double quotes; tab/LF/CR as references so that they survive 3.3.3. */
export function escapeAttr(s: string): string {
  return s.replace(ATTR_ESC_RE, (c) => ESCAPES[c] ?? c);
}
