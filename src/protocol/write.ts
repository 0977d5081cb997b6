// Emitting XML for the stanza builder and the content encoder. Element and attribute names are
// only ever literals of this codebase; every value is validated by a Writer method first and
// escaped by el()/textEl(). Invalid input throws a ProtocolError with the writer's code
// ('bad-request' for stanzas, 'bad-content' for content). No IO.
import { isAddressOf } from './address.ts';
import type { AddressKind } from './address.ts';
import { toBase64 } from './base64.ts';
import { ProtocolError } from './errors.ts';
import type { ProtocolErrorCode } from './errors.ts';
import { isFreeText, isUint, MAX_UINT } from './fields.ts';
import { isValidId } from './ids.ts';
import { escapeAttr, escapeText } from './xml-text.ts';

/** Attribute list in emission order; undefined values are left out. Values must come from a Writer. */
export type Attrs = ReadonlyArray<readonly [name: string, value: string | undefined]>;

function open(name: string, attrs: Attrs): string {
  let s = '<' + name;
  for (const [k, v] of attrs) if (v !== undefined) s += ` ${k}="${escapeAttr(v)}"`;
  return s;
}

/** An element with already-built children (or self-closing without). */
export function el(name: string, attrs: Attrs, children?: string): string {
  return children === undefined || children === '' ? open(name, attrs) + '/>' : `${open(name, attrs)}>${children}</${name}>`;
}

/** An element whose content is text (validated by Writer.text first). */
export function textEl(name: string, attrs: Attrs, text: string): string {
  return `${open(name, attrs)}>${escapeText(text)}</${name}>`;
}

export class Writer {
  readonly code: ProtocolErrorCode;

  constructor(code: ProtocolErrorCode) {
    this.code = code;
  }

  fail(msg: string): never {
    throw new ProtocolError(this.code, msg);
  }

  need(ok: boolean, msg: string): void {
    if (!ok) this.fail(msg);
  }

  id(v: unknown, what: string): string {
    if (typeof v !== 'string' || !isValidId(v)) this.fail(`${what}: invalid id`);
    return v;
  }

  addr(v: unknown, kinds: readonly AddressKind[], what: string): string {
    if (typeof v !== 'string' || !isAddressOf(v, kinds)) this.fail(`${what}: invalid address (expected ${kinds.join(' or ')})`);
    return v;
  }

  optAddr(v: unknown, kinds: readonly AddressKind[], what: string): string | undefined {
    return v === undefined ? undefined : this.addr(v, kinds, what);
  }

  uint(v: unknown, what: string, max: number = MAX_UINT): string {
    if (!isUint(v, max)) this.fail(`${what}: not an integer in 0..${max}`);
    return String(v);
  }

  optUint(v: unknown, what: string, max: number = MAX_UINT): string | undefined {
    return v === undefined ? undefined : this.uint(v, what, max);
  }

  /** A value that must pass a predicate (tokens, phone numbers…). */
  valid<T>(v: unknown, ok: (x: unknown) => x is T, what: string): T {
    if (!ok(v)) this.fail(`${what}: invalid value`);
    return v;
  }

  oneOf<T extends string>(v: unknown, allowed: readonly T[], what: string): T {
    if (typeof v !== 'string' || !(allowed as readonly string[]).includes(v)) this.fail(`${what}: not one of ${allowed.join(', ')}`);
    return v as T;
  }

  /** Free text: any string XML can carry (no U+0000, no lone surrogates, no U+FFFE/U+FFFF…). */
  text(v: unknown, what: string): string {
    if (!isFreeText(v)) this.fail(`${what}: text contains characters XML 1.0 cannot carry`);
    return v;
  }

  optText(v: unknown, what: string): string | undefined {
    return v === undefined ? undefined : this.text(v, what);
  }

  base64(v: unknown, what: string): string {
    if (!(v instanceof Uint8Array)) this.fail(`${what}: not bytes`);
    return toBase64(v);
  }
}
