// Device-list hash (spec 4): "2:" + base64(first 6 bytes of SHA-256(device addresses sorted in
// code-point order, joined by ","))). No IO.
import { Buffer } from 'node:buffer';
import { createHash } from 'node:crypto';

/** Compares by Unicode code point (UTF-8 byte order equals code-point order; UTF-16 order does not). */
function compareCodePoints(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

export function computeDhash(deviceAddresses: string[]): string {
  const sorted = [...deviceAddresses].sort(compareCodePoints);
  const digest = createHash('sha256').update(sorted.join(','), 'utf8').digest();
  return '2:' + digest.subarray(0, 6).toString('base64');
}

const DHASH_RE = /^2:[A-Za-z0-9+/]{8}$/;

/** True for a syntactically valid dhash (version 2, 6 bytes of base64). */
export function isValidDhash(s: unknown): s is string {
  return typeof s === 'string' && DHASH_RE.test(s);
}
