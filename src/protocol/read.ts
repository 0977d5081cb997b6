// Reading typed fields out of an XmlElement tree, for the stanza parser and the content decoder.
// Every failure throws a ProtocolError with the code of the context ('bad-request' for stanzas,
// 'bad-content' for content) and the root/id of the frame. No IO.
import { isAddressOf } from './address.ts';
import type { AddressKind } from './address.ts';
import { tryFromBase64 } from './base64.ts';
import { ProtocolError } from './errors.ts';
import type { ProtocolErrorCode } from './errors.ts';
import { MAX_UINT, parseUint } from './fields.ts';
import { isValidId } from './ids.ts';
import type { XmlElement } from './xml.ts';

export class Reader {
  readonly code: ProtocolErrorCode;
  readonly root: string;
  /** The frame's id (only when valid), reported with every error. */
  readonly stanzaId: string | undefined;

  constructor(code: ProtocolErrorCode, root: string, stanzaId: string | undefined) {
    this.code = code;
    this.root = root;
    this.stanzaId = stanzaId;
  }

  fail(msg: string): never {
    throw new ProtocolError(this.code, `<${this.root}>: ${msg}`, { root: this.root, id: this.stanzaId });
  }

  attr(el: XmlElement, name: string): string | undefined {
    return el.attrs.get(name);
  }

  req(el: XmlElement, name: string): string {
    const v = el.attrs.get(name);
    if (v === undefined) this.fail(`${el.name}/@${name} is required`);
    return v;
  }

  /** An attribute that must satisfy `ok` when present. */
  check(el: XmlElement, name: string, ok: (v: string) => boolean): string | undefined {
    const v = el.attrs.get(name);
    if (v !== undefined && !ok(v)) this.fail(`${el.name}/@${name} is invalid`);
    return v;
  }

  reqCheck(el: XmlElement, name: string, ok: (v: string) => boolean): string {
    const v = this.req(el, name);
    if (!ok(v)) this.fail(`${el.name}/@${name} is invalid`);
    return v;
  }

  oneOf<T extends string>(el: XmlElement, name: string, allowed: readonly T[]): T | undefined {
    const v = el.attrs.get(name);
    if (v === undefined) return undefined;
    if (!(allowed as readonly string[]).includes(v)) this.fail(`${el.name}/@${name} is not one of ${allowed.join(', ')}`);
    return v as T;
  }

  reqOneOf<T extends string>(el: XmlElement, name: string, allowed: readonly T[]): T {
    const v = this.oneOf(el, name, allowed);
    if (v === undefined) this.fail(`${el.name}/@${name} is required`);
    return v;
  }

  uint(el: XmlElement, name: string, max: number = MAX_UINT): number | undefined {
    const v = el.attrs.get(name);
    if (v === undefined) return undefined;
    const n = parseUint(v, max);
    if (n === undefined) this.fail(`${el.name}/@${name} is not a decimal integer in range`);
    return n;
  }

  reqUint(el: XmlElement, name: string, max: number = MAX_UINT): number {
    const n = this.uint(el, name, max);
    if (n === undefined) this.fail(`${el.name}/@${name} is required`);
    return n;
  }

  id(el: XmlElement, name = 'id'): string {
    return this.reqCheck(el, name, isValidId);
  }

  addr(el: XmlElement, name: string, kinds: readonly AddressKind[]): string | undefined {
    return this.check(el, name, (v) => isAddressOf(v, kinds));
  }

  reqAddr(el: XmlElement, name: string, kinds: readonly AddressKind[]): string {
    return this.reqCheck(el, name, (v) => isAddressOf(v, kinds));
  }

  /** The only child called `name`, or undefined; two of them is an error. */
  child(el: XmlElement, name: string): XmlElement | undefined {
    let found: XmlElement | undefined;
    for (const c of el.children) {
      if (c.name !== name) continue;
      if (found !== undefined) this.fail(`more than one ${el.name}/${name}`);
      found = c;
    }
    return found;
  }

  reqChild(el: XmlElement, name: string): XmlElement {
    const c = this.child(el, name);
    if (c === undefined) this.fail(`${el.name}/${name} is required`);
    return c;
  }

  all(el: XmlElement, name: string): XmlElement[] {
    return el.children.filter((c) => c.name === name);
  }

  /** Character data of an element that must not have child elements. */
  text(el: XmlElement): string {
    if (el.children.length > 0) this.fail(`${el.name} must contain text only`);
    return el.text;
  }

  base64(el: XmlElement): Uint8Array {
    const b = tryFromBase64(this.text(el));
    if (b === undefined) this.fail(`${el.name} is not valid base64`);
    return b;
  }

  /** A base64 attribute (content media hashes and keys), optionally of an exact length. */
  base64Attr(el: XmlElement, name: string, length?: number): Uint8Array {
    const b = tryFromBase64(this.req(el, name));
    if (b === undefined || (length !== undefined && b.length !== length)) this.fail(`${el.name}/@${name} is not ${length ?? 'valid'} bytes of base64`);
    return b;
  }

  uintText(el: XmlElement, max: number = MAX_UINT): number {
    const n = parseUint(this.text(el), max);
    if (n === undefined) this.fail(`${el.name} is not a decimal integer in range`);
    return n;
  }
}
