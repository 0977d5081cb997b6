// Addresses (spec 1), dhash (spec 4), ids (spec 3) and strict base64 (spec 3).
import { describe, expect, it } from 'vitest';
import {
  computeDhash, deviceAddress, formatAddress, fromBase64, isValidId, newId, parseAddress, ProtocolError, toBase64, userOf,
} from '../../src/protocol/index.ts';
import { expectProtocolError } from './helpers.ts';

describe('addresses', () => {
  it('parses every form of spec 1 and formats it back', () => {
    const cases = [
      ['447700900123@hub', { kind: 'hub-user', phone: '447700900123' }],
      ['447700900123:0@hub', { kind: 'hub-device', phone: '447700900123', device: 0 }],
      ['447700900123:3@hub', { kind: 'hub-device', phone: '447700900123', device: 3 }],
      ['alice@birdy.interop', { kind: 'provider-user', local: 'alice', provider: 'birdy' }],
      ['a.b_c=d-e@x-1.interop', { kind: 'provider-user', local: 'a.b_c=d-e', provider: 'x-1' }],
      ['alice:1@birdy.interop', { kind: 'provider-device', local: 'alice', provider: 'birdy', device: 1 }],
      ['120363040@g.hub', { kind: 'group', id: '120363040' }],
    ] as const;
    for (const [s, a] of cases) {
      expect(parseAddress(s)).toEqual(a);
      expect(formatAddress(a)).toBe(s);
    }
  });

  it('rejects everything else', () => {
    const bad = [
      '', '@hub', '+447700900123@hub', '0447700900123@hub', '1234567890123456@hub', '447700900123:01@hub', '447700900123:-1@hub',
      '447700900123:2147483648@hub', '447700900123:@hub', '447700900123@HUB', '447700900123@hub ', ' 447700900123@hub',
      'Alice@birdy.interop', 'alice@Birdy.interop', 'al ice@birdy.interop', `${'a'.repeat(65)}@birdy.interop`, `a@${'b'.repeat(33)}.interop`,
      'alice:2@birdy.interop', 'alice:0@birdy.interop', 'alice@birdy', 'alice@birdy.interop.evil', 'alice@.interop', 'abc@g.hub', '@g.hub',
      `${'1'.repeat(65)}@g.hub`, '447700900123:3:4@hub', 'alice@birdy@x.interop',
    ];
    for (const s of bad) expect(parseAddress(s), s).toBeUndefined();
    expect(parseAddress('447700900123:2147483647@hub')).toEqual({ kind: 'hub-device', phone: '447700900123', device: 2147483647 });
    expect(parseAddress(`${'a'.repeat(64)}@${'b'.repeat(32)}.interop`)?.kind).toBe('provider-user');
  });

  it('userOf and deviceAddress convert between user and device addresses', () => {
    expect(userOf('447700900123:3@hub')).toBe('447700900123@hub');
    expect(userOf('alice:1@birdy.interop')).toBe('alice@birdy.interop');
    expect(userOf('447700900123@hub')).toBe('447700900123@hub');
    expect(userOf('120363040@g.hub')).toBe('120363040@g.hub');
    expect(deviceAddress('447700900123@hub', 3)).toBe('447700900123:3@hub');
    expect(deviceAddress('447700900123@hub', 0)).toBe('447700900123:0@hub');
    expect(deviceAddress('alice@birdy.interop', 1)).toBe('alice:1@birdy.interop');
    expectProtocolError(() => userOf('nonsense'), 'bad-request');
    expectProtocolError(() => deviceAddress('alice@birdy.interop', 2), 'bad-request');
    expectProtocolError(() => deviceAddress('447700900123:3@hub', 1), 'bad-request');
    expectProtocolError(() => deviceAddress('120363040@g.hub', 1), 'bad-request');
    expectProtocolError(() => deviceAddress('447700900123@hub', -1), 'bad-request');
    expectProtocolError(() => deviceAddress('447700900123@hub', 1.5), 'bad-request');
  });
});

describe('dhash (spec 4)', () => {
  it('gives the spec example for devices 0 and 3, in any input order', () => {
    expect(computeDhash(['447700900123:0@hub', '447700900123:3@hub'])).toBe('2:pYHTvpwl');
    expect(computeDhash(['447700900123:3@hub', '447700900123:0@hub'])).toBe('2:pYHTvpwl');
  });

  it('sorts in code-point order, so :10@hub comes before :3@hub', () => {
    const sortedByHand = computeDhash(['447700900123:10@hub', '447700900123:3@hub']);
    expect(computeDhash(['447700900123:3@hub', '447700900123:10@hub'])).toBe(sortedByHand);
    // The same as hashing "…:10@hub,…:3@hub" literally: compare with a single pre-joined entry.
    expect(computeDhash(['447700900123:10@hub,447700900123:3@hub'])).toBe(sortedByHand);
    expect(computeDhash(['447700900123:3@hub,447700900123:10@hub'])).not.toBe(sortedByHand);
  });

  it('orders by code point, not UTF-16 unit, beyond the BMP', () => {
    // U+FF61 < U+1F600 by code point, but its UTF-16 unit 0xFF61 > the high surrogate 0xD83D.
    expect(computeDhash(['\u{1F600}', '\uFF61'])).toBe(computeDhash(['\uFF61,\u{1F600}']));
  });

  it('has the documented shape', () => {
    expect(computeDhash([])).toMatch(/^2:[A-Za-z0-9+/]{8}$/);
  });
});

describe('ids (spec 3)', () => {
  it('accepts 8–64 of [A-Za-z0-9_-] only', () => {
    for (const ok of ['abcdefgh', 'A-_09zZx', 'a'.repeat(64), '3EB0C4F1A2']) expect(isValidId(ok), ok).toBe(true);
    for (const bad of ['', 'abcdefg', 'a'.repeat(65), 'abc.defgh', 'abcdefg ', 'abcdéfgh', 'abcd/efg', 'abcd+efg']) expect(isValidId(bad), bad).toBe(false);
  });

  it('newId gives distinct valid ids', () => {
    const ids = new Set(Array.from({ length: 1000 }, () => newId()));
    expect(ids.size).toBe(1000);
    for (const id of ids) expect(isValidId(id)).toBe(true);
  });
});

describe('base64 (RFC 4648 with padding, strict)', () => {
  it('round-trips bytes, including views into larger buffers', () => {
    const big = Uint8Array.from({ length: 20 }, (_, i) => i * 13);
    const view = big.subarray(3, 11);
    expect(toBase64(view)).toBe(Buffer.from(view).toString('base64'));
    expect(fromBase64(toBase64(view))).toEqual(view);
    expect(toBase64(new Uint8Array())).toBe('');
    expect(fromBase64('')).toEqual(new Uint8Array());
  });

  it('returns a plain, unshared Uint8Array', () => {
    const out = fromBase64('AAEC');
    expect(Object.getPrototypeOf(out)).toBe(Uint8Array.prototype);
    expect(out.byteOffset).toBe(0);
    expect(out.buffer.byteLength).toBe(3);
  });

  it('rejects anything but canonical padded standard base64', () => {
    for (const bad of ['A', 'AA', 'AAA', 'AA=', 'A===', 'AA==AA==', 'AA-_', ' AAAA', 'AAAA\n', 'AA AA', 'QR==', 'QUJ=', '====', 'AAAA=']) {
      expect(() => fromBase64(bad), bad).toThrow(ProtocolError);
      expectProtocolError(() => fromBase64(bad), 'bad-request');
    }
  });
});

describe('newId', () => {
  it('is a valid id that never starts with "-" (it may be typed on a command line)', async () => {
    const { newId, isValidId } = await import('../../src/protocol/index.ts');
    for (let i = 0; i < 5000; i++) {
      const id = newId();
      expect(isValidId(id)).toBe(true);
      expect(id.startsWith('-')).toBe(false);
    }
  });
});
