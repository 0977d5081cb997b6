// Stanza ids (spec 3): 8–64 of [A-Za-z0-9_-], unique per sender. No IO.
import { randomBytes } from 'node:crypto';

const ID_RE = /^[A-Za-z0-9_-]{8,64}$/;

/** True for a valid HIP/1 stanza id (spec 3). */
export function isValidId(id: string): boolean {
  return ID_RE.test(id);
}

/** A fresh random id: 16 base64url characters (96 random bits). */
export function newId(): string {
  return randomBytes(12).toString('base64url');
}
