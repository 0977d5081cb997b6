// Fresh names for conformance fixtures, and the few HIP/1 computations the suite re-implements on
// its own (spec 4 dhash, spec 3 ids) so that a bug in src/protocol cannot hide the same bug in a hub.
import { createHash, randomBytes, randomInt } from 'node:crypto';

let counter = 0;
const runTag = randomBytes(3).toString('hex');

/** A fresh E.164 number (with `+`) nobody else in this run uses: 12 digits, country code 44. */
export function freshPhone(): string {
  counter += 1;
  const tail = String(randomInt(0, 1_000_000)).padStart(6, '0');
  return `+447${String(counter % 1000).padStart(3, '0')}${tail}`;
}

/** The hub user address of a phone number (spec 1: digits, no `+`). */
export function hubJid(phone: string): string {
  return `${phone.replace(/^\+/, '')}@hub`;
}

/** A fresh provider-user local part (spec 1: 1–64 of [a-z0-9._=-]). */
export function freshLocal(prefix = 'u'): string {
  counter += 1;
  return `${prefix}-${runTag}-${counter}`;
}

/** A fresh stanza id (spec 3: 8–64 of [A-Za-z0-9_-]). */
export function freshId(prefix = 'cw'): string {
  counter += 1;
  return `${prefix}${runTag}${counter.toString(36)}${randomBytes(3).toString('hex')}`.slice(0, 64);
}

/** Spec 4: "2:" + base64(first 6 bytes of SHA-256(addresses in code-point order, joined by ","). */
export function dhashOf(deviceAddresses: readonly string[]): string {
  const sorted = [...deviceAddresses].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const digest = createHash('sha256').update(sorted.join(','), 'utf8').digest();
  return `2:${digest.subarray(0, 6).toString('base64')}`;
}

/** `447700900123@hub` + 3 → `447700900123:3@hub` (spec 1). */
export function devAddr(userJid: string, device: number): string {
  const at = userJid.indexOf('@');
  return `${userJid.slice(0, at)}:${device}${userJid.slice(at)}`;
}

/** The dhash of a user's device numbers. */
export function dhashOfDevices(userJid: string, devices: readonly number[]): string {
  return dhashOf(devices.map((d) => devAddr(userJid, d)));
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Current UNIX seconds. */
export function nowSeconds(): number {
  return Math.floor(Date.now() / 1000);
}
