// Push signature of the hub → provider HTTP call (spec 9):
// X-Hub-Signature: t=UNIX_SECONDS,v1=hex(HMAC-SHA256(push_secret, t + "." + body)). No IO.
//
// Keys go through createSecretKey: on Node 24 an HMAC with a raw Buffer key costs several times
// more (design.md, measured). Creating the KeyObject is itself a cost per call, so one is kept per
// secret (a handful of configured secrets; bounded so that a caller with many cannot grow it).
import { Buffer } from 'node:buffer';
import { createHmac, createSecretKey, timingSafeEqual, type KeyObject } from 'node:crypto';

const DEFAULT_TOLERANCE_SECONDS = 300;
const MAX_HEADER_LENGTH = 1024;
const T_RE = /^(0|[1-9][0-9]{0,15})$/;
const V1_RE = /^[0-9a-f]{64}$/;

const MAX_KEYS = 16;
const keys = new Map<string, KeyObject>();

function keyOf(secret: string): KeyObject {
  let key = keys.get(secret);
  if (!key) {
    if (keys.size >= MAX_KEYS) keys.delete(keys.keys().next().value as string);
    key = createSecretKey(Buffer.from(secret, 'utf8'));
    keys.set(secret, key);
  }
  return key;
}

function mac(secret: string, t: number, body: string): Buffer {
  const key = keyOf(secret);
  return createHmac('sha256', key).update(`${t}.${body}`, 'utf8').digest();
}

/** Builds the header value `t=T,v1=HEX`. `t` must be a non-negative integer (UNIX seconds). */
export function pushSignatureHeader(secret: string, t: number, body: string): string {
  if (!Number.isSafeInteger(t) || t < 0) throw new RangeError('t must be a non-negative integer');
  return `t=${t},v1=${mac(secret, t, body).toString('hex')}`;
}

/**
 * Checks a header against the body and the clock. Returns false (never throws) for a malformed
 * header, a timestamp more than `toleranceSeconds` away from `nowSeconds`, or no matching `v1`.
 * Several `v1` entries are accepted (one per secret during a rotation); unknown entries are ignored.
 */
export function verifyPushSignature(
  secret: string,
  header: string,
  body: string,
  nowSeconds: number,
  toleranceSeconds: number = DEFAULT_TOLERANCE_SECONDS,
): boolean {
  return verifiedPushTime(secret, header, body, nowSeconds, toleranceSeconds) !== undefined;
}

/**
 * `verifyPushSignature` that returns the signed timestamp `t` of a valid header (undefined
 * otherwise): with the body, what identifies the push however its header is spelled.
 */
export function verifiedPushTime(
  secret: string,
  header: string,
  body: string,
  nowSeconds: number,
  toleranceSeconds: number = DEFAULT_TOLERANCE_SECONDS,
): number | undefined {
  if (typeof header !== 'string' || header.length > MAX_HEADER_LENGTH) return undefined;
  if (!Number.isFinite(nowSeconds) || !(toleranceSeconds >= 0)) return undefined;
  let t: number | undefined;
  const candidates: Buffer[] = [];
  for (const part of header.split(',')) {
    const eq = part.indexOf('=');
    if (eq < 0) return undefined;
    const name = part.slice(0, eq).trim();
    const value = part.slice(eq + 1).trim();
    if (name === 't') {
      if (t !== undefined || !T_RE.test(value)) return undefined;
      t = Number(value);
    } else if (name === 'v1') {
      if (!V1_RE.test(value)) return undefined;
      candidates.push(Buffer.from(value, 'hex'));
    }
  }
  if (t === undefined || candidates.length === 0) return undefined;
  if (Math.abs(nowSeconds - t) > toleranceSeconds) return undefined;
  const expected = mac(secret, t, body);
  let ok = false;
  // Compare against every candidate (no early exit) in constant time per candidate.
  for (const c of candidates) ok = timingSafeEqual(c, expected) || ok;
  return ok ? t : undefined;
}
