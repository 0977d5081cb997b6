// HIP/1 addresses (spec 1): parsing, formatting and user/device conversion. Addresses are compared
// as exact strings, so parsing accepts only the canonical form (no leading zeros, lower case). No IO.
import { ProtocolError } from './errors.ts';

export type Address =
  | { kind: 'hub-user'; phone: string }
  | { kind: 'hub-device'; phone: string; device: number }
  | { kind: 'provider-user'; local: string; provider: string }
  | { kind: 'provider-device'; local: string; provider: string; device: 1 }
  | { kind: 'group'; id: string };

export type AddressKind = Address['kind'];

/**
 * Largest HIP device number we accept. The spec gives no bound; 2^31 − 1 keeps device numbers
 * plain 32-bit integers on every side (docs/protocol-notes.md).
 */
export const MAX_DEVICE = 2 ** 31 - 1;

// E.164 digits without "+": 1–15 digits, never starting with 0.
const HUB_RE = /^([1-9][0-9]{0,14})(?::(0|[1-9][0-9]{0,9}))?@hub$/;
// local 1–64 of [a-z0-9._=-], provider 1–32 of [a-z0-9-]; the only provider device is 1.
const PROVIDER_RE = /^([a-z0-9._=-]{1,64})(:1)?@([a-z0-9-]{1,32})\.interop$/;
// Group ids: 1–64 decimal digits (our decision, docs/protocol-notes.md).
const GROUP_RE = /^([0-9]{1,64})@g\.hub$/;

export function parseAddress(s: string): Address | undefined {
  if (s.length > 200) return undefined;
  let m = HUB_RE.exec(s);
  if (m) {
    const phone = m[1] as string;
    if (m[2] === undefined) return { kind: 'hub-user', phone };
    const device = Number(m[2]);
    return device <= MAX_DEVICE ? { kind: 'hub-device', phone, device } : undefined;
  }
  m = PROVIDER_RE.exec(s);
  if (m) {
    const local = m[1] as string;
    const provider = m[3] as string;
    return m[2] === undefined ? { kind: 'provider-user', local, provider } : { kind: 'provider-device', local, provider, device: 1 };
  }
  m = GROUP_RE.exec(s);
  if (m) return { kind: 'group', id: m[1] as string };
  return undefined;
}

export function formatAddress(a: Address): string {
  switch (a.kind) {
    case 'hub-user': return `${a.phone}@hub`;
    case 'hub-device': return `${a.phone}:${a.device}@hub`;
    case 'provider-user': return `${a.local}@${a.provider}.interop`;
    case 'provider-device': return `${a.local}:1@${a.provider}.interop`;
    case 'group': return `${a.id}@g.hub`;
  }
}

/** True when `s` parses as an address of one of `kinds`. */
export function isAddressOf(s: string, kinds: readonly AddressKind[]): boolean {
  const a = parseAddress(s);
  return a !== undefined && kinds.includes(a.kind);
}

/** Kinds that name a user or a group (`to`, `from`, `jid` of a user). */
export const USER_KINDS: readonly AddressKind[] = ['hub-user', 'provider-user', 'group'];
/** Kinds that name one device (`participant`, `jid` of a device). */
export const DEVICE_KINDS: readonly AddressKind[] = ['hub-device', 'provider-device'];

/**
 * The user address of a device address ('447700900123:3@hub' → '447700900123@hub'); a user or group
 * address is returned unchanged. Throws ProtocolError('bad-request') for a string that is not an address.
 */
export function userOf(address: string): string {
  const a = parseAddress(address);
  if (a === undefined) throw new ProtocolError('bad-request', 'not a HIP address');
  if (a.kind === 'hub-device') return `${a.phone}@hub`;
  if (a.kind === 'provider-device') return `${a.local}@${a.provider}.interop`;
  return address;
}

/**
 * The address of one device of a user ('447700900123@hub', 3 → '447700900123:3@hub'). Provider users
 * have only device 1 (spec 1). Throws ProtocolError('bad-request') otherwise.
 */
export function deviceAddress(user: string, device: number): string {
  const a = parseAddress(user);
  if (!Number.isSafeInteger(device) || device < 0 || device > MAX_DEVICE) {
    throw new ProtocolError('bad-request', 'invalid device number');
  }
  if (a?.kind === 'hub-user') return `${a.phone}:${device}@hub`;
  if (a?.kind === 'provider-user') {
    if (device !== 1) throw new ProtocolError('bad-request', 'provider users have only device 1');
    return `${a.local}:1@${a.provider}.interop`;
  }
  throw new ProtocolError('bad-request', 'not a user address');
}
