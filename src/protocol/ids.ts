// Stanza ids (spec 3): 8–64 of [A-Za-z0-9_-], unique per sender. No IO.
import { randomBytes } from 'node:crypto';

const ID_RE = /^[A-Za-z0-9_-]{8,64}$/;

/** True for a valid HIP/1 stanza id (spec 3). */
export function isValidId(id: string): boolean {
  return ID_RE.test(id);
}

const ALNUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

/**
 * A fresh random id: 16 base64url characters (about 96 random bits). The first one is
 * alphanumeric, so an id never looks like a command-line option (`causeway dead-letters replay ID`).
 */
export function newId(): string {
  const b = randomBytes(12);
  return `${ALNUM[(b[0] as number) % ALNUM.length]}${b.toString('base64url').slice(1)}`;
}
