// Unguessable, expiring media URLs (spec 11.1: the sidecar hosts its users' media at a URL of its
// own, fetched by the hub's media proxy). The token is `<blob key>.<expiry, base36 seconds>.<mac>`
// with mac = base64url(HMAC-SHA256(secret, "causeway-media-url/1\n" key "\n" expiry)).
//
// Why a MAC and not a random id kept in Redis with a TTL: nothing to store or look up per media,
// URLs survive restarts and work on every replica that shares the secret, and the expiry travels
// inside the token. Revocation is deleting the blob, which gives the same 404. The blob key is
// itself 128 random bits, so the URL stays unguessable even apart from the MAC.
import { createHmac, createSecretKey, timingSafeEqual, type KeyObject } from 'node:crypto';
import { BLOB_KEY_PATTERN } from './blob-store.ts';

const TOKEN = /^([A-Za-z0-9_-]{8,128})\.([0-9a-z]{1,11})\.([A-Za-z0-9_-]{43})$/;

export class UrlSigner {
  readonly #key: KeyObject;

  constructor(secret: Uint8Array) {
    if (secret.length < 32) throw new RangeError('the media URL secret needs at least 32 bytes');
    // A KeyObject: on Node 24 an HMAC with a raw Buffer key costs several times more (design.md).
    this.#key = createSecretKey(secret);
  }

  sign(blobKey: string, expiresAtS: number): string {
    if (!BLOB_KEY_PATTERN.test(blobKey)) throw new TypeError('invalid blob key');
    if (!Number.isSafeInteger(expiresAtS) || expiresAtS <= 0) throw new RangeError('invalid expiry');
    const exp = expiresAtS.toString(36);
    return `${blobKey}.${exp}.${this.#mac(blobKey, exp).toString('base64url')}`;
  }

  /** The blob key of a valid, unexpired token; undefined for anything else (one answer for all). */
  verify(token: string, nowS: number): string | undefined {
    const m = TOKEN.exec(token);
    if (m === null) return undefined;
    const [, key = '', exp = '', mac = ''] = m;
    const expected = this.#mac(key, exp);
    const given = Buffer.from(mac, 'base64url');
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) return undefined;
    return parseInt(exp, 36) > nowS ? key : undefined;
  }

  /** Expiry (UNIX seconds) of a token that `verify` accepted. */
  static expiry(token: string): number | undefined {
    const exp = TOKEN.exec(token)?.[2];
    return exp === undefined ? undefined : parseInt(exp, 36);
  }

  #mac(key: string, exp: string): Buffer {
    return createHmac('sha256', this.#key).update(`causeway-media-url/1\n${key}\n${exp}`).digest();
  }
}
