// Strict base64 (RFC 4648 section 4, standard alphabet, with padding) for binary values on the
// wire (spec 3). Strict means: no whitespace, no URL-safe alphabet, padding required, and the
// unused bits of the last group must be zero, so every byte string has exactly one encoding.
import { Buffer } from 'node:buffer';
import { ProtocolError } from './errors.ts';

const B64_RE = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

export function toBase64(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('base64');
}

/** Decodes strict base64; throws ProtocolError('bad-request') for anything else. */
export function fromBase64(s: string): Uint8Array {
  const bytes = tryFromBase64(s);
  if (bytes === undefined) throw new ProtocolError('bad-request', 'invalid base64');
  return bytes;
}

const B64_VALUE = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';

/** As fromBase64, but undefined instead of throwing. Returns a copy (never a pooled Buffer view). */
export function tryFromBase64(s: string): Uint8Array | undefined {
  if (!B64_RE.test(s)) return undefined;
  // Non-zero unused bits ("QR==" vs "QQ==") decode to the same bytes: reject the non-canonical form.
  if (s.endsWith('==')) {
    if ((B64_VALUE.indexOf(s.charAt(s.length - 3)) & 0x0f) !== 0) return undefined;
  } else if (s.endsWith('=')) {
    if ((B64_VALUE.indexOf(s.charAt(s.length - 2)) & 0x03) !== 0) return undefined;
  }
  return new Uint8Array(Buffer.from(s, 'base64'));
}
