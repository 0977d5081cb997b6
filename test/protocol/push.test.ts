// Push signature (spec 9): X-Hub-Signature: t=T,v1=hex(HMAC-SHA256(secret, T + "." + body)).
import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { pushSignatureHeader, verifyPushSignature } from '../../src/protocol/index.ts';

const secret = 'whsec_test_0123456789';
const body = '{"user":"alice@birdy.interop","pending":3}';
const t = 1763800100;

describe('push signature', () => {
  it('matches an independent HMAC-SHA256 over t + "." + body', () => {
    const hex = createHmac('sha256', secret).update(`${t}.${body}`).digest('hex');
    expect(pushSignatureHeader(secret, t, body)).toBe(`t=${t},v1=${hex}`);
  });

  it('verifies a valid signature within the tolerance', () => {
    const h = pushSignatureHeader(secret, t, body);
    expect(verifyPushSignature(secret, h, body, t)).toBe(true);
    expect(verifyPushSignature(secret, h, body, t + 300)).toBe(true);
    expect(verifyPushSignature(secret, h, body, t - 300)).toBe(true);
    expect(verifyPushSignature(secret, ` t=${t} , v1=${h.split('v1=')[1] as string} `, body, t)).toBe(true);
  });

  it('rejects a wrong secret and a tampered body', () => {
    const h = pushSignatureHeader(secret, t, body);
    expect(verifyPushSignature('other-secret', h, body, t)).toBe(false);
    expect(verifyPushSignature(secret, h, body.replace('3', '4'), t)).toBe(false);
    expect(verifyPushSignature(secret, h, `${body} `, t)).toBe(false);
  });

  it('rejects clock skew beyond 300 s (or a custom tolerance)', () => {
    const h = pushSignatureHeader(secret, t, body);
    expect(verifyPushSignature(secret, h, body, t + 301)).toBe(false);
    expect(verifyPushSignature(secret, h, body, t - 301)).toBe(false);
    expect(verifyPushSignature(secret, h, body, t + 30, 10)).toBe(false);
    expect(verifyPushSignature(secret, h, body, t + 30, 60)).toBe(true);
  });

  it('a signature for another t does not verify (t is signed)', () => {
    const h = pushSignatureHeader(secret, t, body);
    const moved = h.replace(`t=${t}`, `t=${t + 1}`);
    expect(verifyPushSignature(secret, moved, body, t)).toBe(false);
  });

  it('accepts any of several v1 entries (secret rotation) and ignores unknown schemes', () => {
    const good = (pushSignatureHeader(secret, t, body).split('v1=')[1]) as string;
    expect(verifyPushSignature(secret, `t=${t},v1=${'0'.repeat(64)},v1=${good}`, body, t)).toBe(true);
    expect(verifyPushSignature(secret, `t=${t},v0=abc,v1=${good}`, body, t)).toBe(true);
  });

  it('returns false for malformed headers, never throws', () => {
    const good = (pushSignatureHeader(secret, t, body).split('v1=')[1]) as string;
    const headers = [
      '', 't=', 'v1=', `t=${t}`, `v1=${good}`, `t=${t},v1=`, `t=${t},v1=${good.slice(1)}`, `t=${t},v1=${good.toUpperCase()}`,
      `t=${t},v1=${good}0`, `t=abc,v1=${good}`, `t=-${t},v1=${good}`, `t=${t}.0,v1=${good}`, `t=${t},t=${t},v1=${good}`,
      `t=${t};v1=${good}`, `t=${t},v1=${'zz'.repeat(32)}`, `t=${t},garbage,v1=${good}`, `t=1e9,v1=${good}`, 'x'.repeat(5000),
      `t=${'9'.repeat(40)},v1=${good}`,
    ];
    for (const h of headers) expect(verifyPushSignature(secret, h, body, t), h.slice(0, 80)).toBe(false);
    expect(verifyPushSignature(secret, undefined as unknown as string, body, t)).toBe(false);
    expect(verifyPushSignature(secret, `t=${t},v1=${good}`, body, Number.NaN)).toBe(false);
  });

  it('refuses to sign a non-integer time', () => {
    expect(() => pushSignatureHeader(secret, 1.5, body)).toThrow(RangeError);
  });
});
