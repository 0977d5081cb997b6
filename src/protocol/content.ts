// Content codec (spec 11): the plaintext inside every `enc` is a UTF-8 XML document
// `<content xmlns="urn:hip:content:1" id t>…</content>` followed by 1–16 bytes of padding, each
// equal to the padding length. Pure. Every problem throws ProtocolError('bad-content') — on decode
// the receiver treats that as undecryptable (spec 11), on encode it is a caller bug.
// Decisions (docs/protocol-notes.md): unknown children and `<expires>` are ignored; at most one
// `text`, `media` and `reply`; media `sha256`/`enc-sha256`/`key` are 32 bytes and `nonce` 12
// (spec 11.1); `url` is an absolute http(s) URL; the XML is capped at MAX_CONTENT_BYTES.
import { randomInt } from 'node:crypto';
import { USER_KINDS } from './address.ts';
import { ProtocolError } from './errors.ts';
import { codePointLength, isFreeText, isToken } from './fields.ts';
import { isValidId } from './ids.ts';
import { Reader } from './read.ts';
import { MEDIA_KINDS } from './types.ts';
import type { Content, MediaRef } from './types.ts';
import { el, textEl } from './write.ts';
import { Writer } from './write.ts';
import { parseXml } from './xml.ts';
import type { XmlElement } from './xml.ts';

export const CONTENT_XMLNS = 'urn:hip:content:1';
/** Text limit of spec 11, in code points. */
export const MAX_TEXT_CODE_POINTS = 65_536;
/**
 * Cap on the content XML. Large enough for the longest valid text with every character escaped
 * (65,536 × "&amp;") plus media; a real frame (256 KiB, base64) bounds what is sent far lower.
 */
export const MAX_CONTENT_BYTES = 512 * 1024;

const MIME_RE = /^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}\/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}(?:;[ -~]{0,255})?$/;
function isMime(s: unknown): s is string {
  return typeof s === 'string' && MIME_RE.test(s);
}

function isMediaUrl(s: unknown): s is string {
  if (typeof s !== 'string' || s.length > 4096 || !/^https?:\/\/[!-~]+$/.test(s)) return false;
  return URL.canParse(s);
}

function isText(s: unknown): s is string {
  return isFreeText(s) && codePointLength(s) <= MAX_TEXT_CODE_POINTS;
}

// ── decode ─────────────────────────────────────────────────────────────────────────────────

function parseMedia(r: Reader, e: XmlElement): MediaRef {
  const m: MediaRef = {
    kind: r.reqOneOf(e, 'kind', MEDIA_KINDS),
    mime: r.reqCheck(e, 'mime', isMime),
    size: r.reqUint(e, 'size'),
    sha256: r.base64Attr(e, 'sha256', 32),
    encSha256: r.base64Attr(e, 'enc-sha256', 32),
    key: r.base64Attr(e, 'key', 32),
    nonce: r.base64Attr(e, 'nonce', 12),
    url: r.reqCheck(e, 'url', isMediaUrl),
  };
  const filename = r.attr(e, 'filename');
  if (filename !== undefined) m.filename = filename;
  const width = r.uint(e, 'width');
  if (width !== undefined) m.width = width;
  const height = r.uint(e, 'height');
  if (height !== undefined) m.height = height;
  const durationMs = r.uint(e, 'duration-ms');
  if (durationMs !== undefined) m.durationMs = durationMs;
  const caption = r.attr(e, 'caption');
  if (caption !== undefined) m.caption = caption;
  return m;
}

function parseContent(root: XmlElement): Content {
  const rawId = root.attrs.get('id');
  const r = new Reader('bad-content', root.name, rawId !== undefined && isValidId(rawId) ? rawId : undefined);
  if (root.name !== 'content') r.fail('root must be <content>');
  r.reqOneOf(root, 'xmlns', [CONTENT_XMLNS]);
  const c: Content = { id: r.id(root), t: r.reqUint(root, 't') };
  const text = r.child(root, 'text');
  if (text !== undefined) {
    c.text = r.text(text);
    if (codePointLength(c.text) > MAX_TEXT_CODE_POINTS) r.fail(`text longer than ${MAX_TEXT_CODE_POINTS} code points`);
  }
  const media = r.child(root, 'media');
  if (media !== undefined) c.media = parseMedia(r, media);
  const reply = r.child(root, 'reply');
  if (reply !== undefined) c.reply = { to: r.id(reply, 'to'), sender: r.reqAddr(reply, 'sender', USER_KINDS) };
  const fallbacks = r.all(root, 'fallback').map((f) => ({ for: r.reqCheck(f, 'for', isToken), text: r.text(f) }));
  if (fallbacks.length > 0) c.fallbacks = fallbacks;
  return c;
}

const decoder = new TextDecoder('utf-8', { fatal: true });

/** Checks and strips the padding, then parses the content document. Throws ProtocolError('bad-content'). */
export function decodeContent(plaintext: Uint8Array): Content {
  if (!(plaintext instanceof Uint8Array) || plaintext.length === 0) throw new ProtocolError('bad-content', 'empty plaintext');
  const pad = plaintext[plaintext.length - 1] as number;
  if (pad < 1 || pad > 16 || pad >= plaintext.length) throw new ProtocolError('bad-content', 'bad padding');
  for (let i = plaintext.length - pad; i < plaintext.length; i++) {
    if (plaintext[i] !== pad) throw new ProtocolError('bad-content', 'bad padding');
  }
  const body = plaintext.subarray(0, plaintext.length - pad);
  if (body.length > MAX_CONTENT_BYTES) throw new ProtocolError('bad-content', 'content too large');
  let xml: string;
  try {
    xml = decoder.decode(body);
  } catch {
    throw new ProtocolError('bad-content', 'content is not UTF-8');
  }
  try {
    return parseContent(parseXml(xml, MAX_CONTENT_BYTES).root);
  } catch (e) {
    if (e instanceof ProtocolError) {
      if (e.code === 'bad-content') throw e;
      throw new ProtocolError('bad-content', `content XML: ${e.message}`, { root: e.root, id: e.id });
    }
    throw new ProtocolError('bad-content', `content: ${e instanceof Error ? e.message : String(e)}`);
  }
}

// ── encode ─────────────────────────────────────────────────────────────────────────────────

function buildMedia(w: Writer, m: MediaRef): string {
  w.need(typeof m === 'object' && m !== null, 'media must be an object');
  const bytes = (v: unknown, n: number, what: string): string => {
    w.need(v instanceof Uint8Array && v.length === n, `${what} must be ${n} bytes`);
    return w.base64(v, what);
  };
  return el('media', [
    ['kind', w.oneOf(m.kind, MEDIA_KINDS, 'media/@kind')],
    ['mime', w.valid(m.mime, isMime, 'media/@mime')],
    ['size', w.uint(m.size, 'media/@size')],
    ['sha256', bytes(m.sha256, 32, 'media/@sha256')],
    ['enc-sha256', bytes(m.encSha256, 32, 'media/@enc-sha256')],
    ['key', bytes(m.key, 32, 'media/@key')],
    ['nonce', bytes(m.nonce, 12, 'media/@nonce')],
    ['url', w.valid(m.url, isMediaUrl, 'media/@url')],
    ['filename', w.optText(m.filename, 'media/@filename')],
    ['width', w.optUint(m.width, 'media/@width')],
    ['height', w.optUint(m.height, 'media/@height')],
    ['duration-ms', w.optUint(m.durationMs, 'media/@duration-ms')],
    ['caption', w.optText(m.caption, 'media/@caption')],
  ]);
}

function buildContent(w: Writer, c: Content): string {
  w.need(typeof c === 'object' && c !== null, 'content must be an object');
  let children = '';
  if (c.text !== undefined) children += textEl('text', [], w.valid(c.text, isText, 'content/text'));
  if (c.media !== undefined) children += buildMedia(w, c.media);
  if (c.reply !== undefined) {
    children += el('reply', [['to', w.id(c.reply.to, 'reply/@to')], ['sender', w.addr(c.reply.sender, USER_KINDS, 'reply/@sender')]]);
  }
  if (c.fallbacks !== undefined) {
    w.need(Array.isArray(c.fallbacks), 'fallbacks must be an array');
    for (const f of c.fallbacks) children += textEl('fallback', [['for', w.valid(f.for, isToken, 'fallback/@for')]], w.text(f.text, 'fallback'));
  }
  return el('content', [['xmlns', CONTENT_XMLNS], ['id', w.id(c.id, 'content/@id')], ['t', w.uint(c.t, 'content/@t')]], children);
}

/**
 * Serializes content and appends padding of `padLength` bytes (1–16; random when not given),
 * each byte equal to the length (spec 11). Throws ProtocolError('bad-content') for invalid content.
 */
export function encodeContent(content: Content, padLength?: number): Uint8Array {
  const w = new Writer('bad-content');
  const pad = padLength ?? randomInt(1, 17);
  w.need(Number.isInteger(pad) && pad >= 1 && pad <= 16, 'padLength must be 1–16');
  let xml: string;
  try {
    xml = buildContent(w, content);
  } catch (e) {
    if (e instanceof ProtocolError) throw e;
    throw new ProtocolError('bad-content', `invalid content: ${e instanceof Error ? e.message : String(e)}`);
  }
  const body = new TextEncoder().encode(xml);
  w.need(body.length <= MAX_CONTENT_BYTES, 'content too large');
  const out = new Uint8Array(body.length + pad);
  out.set(body, 0);
  out.fill(pad, body.length);
  return out;
}
