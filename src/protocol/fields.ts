// Field-level rules shared by the parser and the builder, so that whatever one accepts the other
// accepts too (parseStanza(buildStanza(s)) deep-equals s). Where the spec is silent the rule is our
// decision, listed in docs/protocol-notes.md. No IO.
import { hasIllegalChar } from './xml-text.ts';

/** Largest integer on the wire unless a field says otherwise. */
export const MAX_UINT = Number.MAX_SAFE_INTEGER;
/** Prekey ids are below 2^24 (spec 7.1). */
export const MAX_PREKEY_ID = 2 ** 24 - 1;
/** Registration ids travel as 4 bytes big-endian (spec 6.2, 7.1). */
export const MAX_REGISTRATION = 2 ** 32 - 1;

const UINT_RE = /^(0|[1-9][0-9]{0,15})$/;

export function isUint(n: unknown, max: number = MAX_UINT): n is number {
  return typeof n === 'number' && Number.isSafeInteger(n) && n >= 0 && n <= max;
}

/** Canonical decimal only: no sign, no leading zeros, no spaces (so every number has one spelling). */
export function parseUint(s: string, max: number = MAX_UINT): number | undefined {
  if (!UINT_RE.test(s)) return undefined;
  const n = Number(s);
  return n <= max ? n : undefined;
}

/** Error codes of acks and iq errors: three digits, 100–599 (spec 4 lists the ones in use). */
export function isErrorCode(n: unknown): n is number {
  return isUint(n) && n >= 100 && n <= 599;
}

/** Lower-case tokens: error reasons, features, media kinds, message types. */
const TOKEN_RE = /^[a-z0-9][a-z0-9-]{0,63}$/;
export function isToken(s: unknown): s is string {
  return typeof s === 'string' && TOKEN_RE.test(s);
}

/** `ack/@class`: a stanza root name or `unknown` (spec 3); any XML-name-like token up to 64 characters. */
const CLASS_RE = /^[A-Za-z_][A-Za-z0-9_.:-]{0,63}$/;
export function isAckClass(s: unknown): s is string {
  return typeof s === 'string' && CLASS_RE.test(s);
}

/** Free text (names, reasons, captions, message text): any string XML 1.0 can carry. */
export function isFreeText(s: unknown): s is string {
  return typeof s === 'string' && !hasIllegalChar(s);
}

/** `lookup/@phone`: E.164 with the leading "+" (spec 10 example). */
const PHONE_RE = /^\+[1-9][0-9]{0,14}$/;
export function isPhone(s: unknown): s is string {
  return typeof s === 'string' && PHONE_RE.test(s);
}

/** Provider ids (spec 1): 1–32 of [a-z0-9-]. */
const PROVIDER_ID_RE = /^[a-z0-9-]{1,32}$/;
export function isProviderId(s: unknown): s is string {
  return typeof s === 'string' && PROVIDER_ID_RE.test(s);
}

/** `opened/@session`: 1–128 URL-safe characters (our decision). */
const SESSION_RE = /^[A-Za-z0-9._~-]{1,128}$/;
export function isSessionId(s: unknown): s is string {
  return typeof s === 'string' && SESSION_RE.test(s);
}

/** `message/@type` and `enc/@mediatype`: `text`, `media`, a media kind or a declared feature (spec 4). */
const KIND_RE = /^[a-z][a-z0-9-]{0,31}$/;
export function isKindName(s: unknown): s is string {
  return typeof s === 'string' && KIND_RE.test(s);
}

/** Counts Unicode code points (astral characters count once). */
export function codePointLength(s: string): number {
  let n = s.length;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff) {
      const d = s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        n--;
        i++;
      }
    }
  }
  return n;
}
