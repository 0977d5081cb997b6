// Signatures of the webhook adapter's POSTs to the provider. The scheme is the hub's push scheme
// (spec 9), under our own header name:
//   X-Causeway-Signature: t=UNIX_SECONDS,v1=hex(HMAC-SHA256(webhook_secret, t + "." + body))
// `t` is taken at each attempt, so a retry hours later still passes the receiver's clock check;
// the body (and its event_id) is the same on every attempt. No IO.
import { pushSignatureHeader, verifyPushSignature } from '../../src/protocol/index.ts';

export const SIGNATURE_HEADER = 'X-Causeway-Signature';
export const EVENT_ID_HEADER = 'X-Causeway-Event-Id';
export const EVENT_TYPE_HEADER = 'X-Causeway-Event-Type';
export const ATTEMPT_HEADER = 'X-Causeway-Attempt';
/** On a batch POST (`X-Causeway-Event-Type: batch`): how many events it carries. */
export const EVENT_COUNT_HEADER = 'X-Causeway-Event-Count';
/** Receivers should refuse a `t` further than this from their clock (replay protection). */
export const DEFAULT_TOLERANCE_SECONDS = 300;

/** The X-Causeway-Signature value for `body` at `t` (UNIX seconds). */
export function signWebhook(secret: string, body: string, t: number = Math.floor(Date.now() / 1000)): string {
  return pushSignatureHeader(secret, t, body);
}

/**
 * For providers (and tests): true when `header` is a valid X-Causeway-Signature of `body` (the raw
 * request body, exactly as received, before any JSON parsing) under `secret`, with `t` within
 * `toleranceSeconds` of `nowSeconds`. Never throws. Several `v1` values are accepted, so a sender
 * may sign with two secrets during a rotation.
 */
export function verifyWebhookSignature(
  secret: string,
  header: string | undefined | null,
  body: string,
  nowSeconds: number = Math.floor(Date.now() / 1000),
  toleranceSeconds: number = DEFAULT_TOLERANCE_SECONDS,
): boolean {
  if (typeof header !== 'string' || secret === '') return false;
  return verifyPushSignature(secret, header, body, nowSeconds, toleranceSeconds);
}
