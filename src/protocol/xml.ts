// Safe XML reading: size cap → well-formedness/forbidden-construct scan (xml-scan.ts) →
// fast-xml-parser (ordered output, no entity processing, no value coercion) → a small typed tree
// with decoded text and attribute values. Any exception from the library becomes a ProtocolError,
// and the tree is cross-checked against the scan so a disagreement between the two parsers can
// never turn into a different structure. No IO.
import { Buffer } from 'node:buffer';
import { XMLParser } from 'fast-xml-parser';
import { MAX_FRAME_BYTES, ProtocolError } from './errors.ts';
import { scanXml } from './xml-scan.ts';
import type { ScanResult } from './xml-scan.ts';
import { decodeAttr, decodeText } from './xml-text.ts';

/** One element: attributes in a Map (never object keys), text = all direct character data joined. */
export interface XmlElement {
  name: string;
  attrs: ReadonlyMap<string, string>;
  children: XmlElement[];
  text: string;
}

const ATTRS_KEY = ':@';
const TEXT_KEY = '#text';

const parser = new XMLParser({
  preserveOrder: true,
  ignoreAttributes: false,
  attributeNamePrefix: '',
  parseTagValue: false,
  parseAttributeValue: false,
  processEntities: false,
  htmlEntities: false,
  trimValues: false,
  ignoreDeclaration: true,
  ignorePiTags: true,
  // Keep names such as "toString" as they are (they only ever become Map keys or array entries
  // here); __proto__/constructor/prototype never reach the library (the scan rejects them).
  onDangerousProperty: (name: string) => name,
});

/** Throws ProtocolError('too-large') when the UTF-8 encoding of `s` exceeds `maxBytes`. */
export function checkSize(s: string, maxBytes: number): void {
  // Every UTF-16 unit is at least one UTF-8 byte: the cheap test settles huge frames without encoding.
  if (s.length > maxBytes || Buffer.byteLength(s, 'utf8') > maxBytes) {
    throw new ProtocolError('too-large', `frame larger than ${maxBytes} bytes`);
  }
}

export interface ParseXmlResult {
  root: XmlElement;
  scan: ScanResult;
}

/** Parses one XML document. Throws only ProtocolError: too-large, not-well-formed or forbidden-construct. */
export function parseXml(s: string, maxBytes: number = MAX_FRAME_BYTES): ParseXmlResult {
  checkSize(s, maxBytes);
  const scan = scanXml(s);
  const where = { root: scan.root };
  let out: unknown;
  try {
    out = parser.parse(s.slice(scan.rootStart, scan.rootEnd));
  } catch (e) {
    throw new ProtocolError('not-well-formed', `XML parser: ${e instanceof Error ? e.message : String(e)}`, where);
  }
  const nodes = Array.isArray(out) ? out : [];
  const elements = nodes.filter((n) => elementName(n) !== undefined);
  const first = elements[0];
  if (elements.length !== 1 || first === undefined) throw new ProtocolError('not-well-formed', 'XML parser: no single root', where);
  const counter = { index: 0 };
  const root = convert(first, scan, counter);
  if (counter.index !== scan.names.length) throw new ProtocolError('not-well-formed', 'XML parser disagrees with the scan', where);
  return { root, scan };
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function elementName(node: unknown): string | undefined {
  if (!isRecord(node)) return undefined;
  for (const k of Object.keys(node)) if (k !== ATTRS_KEY && k !== TEXT_KEY) return k;
  return undefined;
}

/** Converts one library node; depth is bounded by MAX_DEPTH (the scan), so recursion is safe here. */
function convert(node: unknown, scan: ScanResult, counter: { index: number }): XmlElement {
  const name = elementName(node);
  const index = counter.index++;
  if (!isRecord(node) || name === undefined || scan.names[index] !== name) {
    throw new ProtocolError('not-well-formed', 'XML parser disagrees with the scan', { root: scan.root });
  }
  const attrs = new Map<string, string>();
  const rawAttrs = node[ATTRS_KEY];
  if (isRecord(rawAttrs)) {
    for (const [k, v] of Object.entries(rawAttrs)) {
      if (typeof v !== 'string') throw new ProtocolError('not-well-formed', 'XML parser: non-string attribute', { root: scan.root });
      attrs.set(k, decodeAttr(v));
    }
  }
  if (attrs.size !== scan.attrCounts[index]) {
    throw new ProtocolError('not-well-formed', 'XML parser disagrees with the scan', { root: scan.root });
  }
  const children: XmlElement[] = [];
  let text = '';
  const rawChildren = node[name];
  if (Array.isArray(rawChildren)) {
    for (const child of rawChildren) {
      if (isRecord(child) && Object.hasOwn(child, TEXT_KEY) && elementName(child) === undefined) {
        const t = child[TEXT_KEY];
        if (typeof t !== 'string') throw new ProtocolError('not-well-formed', 'XML parser: non-string text', { root: scan.root });
        text += decodeText(t);
      } else {
        children.push(convert(child, scan, counter));
      }
    }
  }
  return { name, attrs, children, text };
}
