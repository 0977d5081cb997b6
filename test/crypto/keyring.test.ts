import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { Keyring, KeyringError } from '../../src/crypto/keyring.ts';

const k1 = { id: 'k1', key: randomBytes(32) };
const k2 = { id: 'k2', key: randomBytes(32) };

describe('Keyring', () => {
  it('seals and opens, with a fresh nonce each time', () => {
    const ring = new Keyring([k1], 'k1');
    const a = ring.seal(Buffer.from('session record'), 'causeway:sig:{alice}:sessions|peer');
    const b = ring.seal(Buffer.from('session record'), 'causeway:sig:{alice}:sessions|peer');
    expect(a.equals(b)).toBe(false);
    expect(a.includes(Buffer.from('session record'))).toBe(false);
    expect(ring.open(a, 'causeway:sig:{alice}:sessions|peer').toString()).toBe('session record');
  });

  it('never reuses a nonce across refills of the nonce pool', () => {
    const ring = new Keyring([k1], 'k1');
    const nonces = new Set<string>();
    const n = 3000; // the pool holds 1,024 nonces: this crosses two refills
    for (let i = 0; i < n; i++) {
      const blob = ring.seal(Buffer.from(`r${i}`), `slot-${i}`);
      nonces.add(blob.subarray(2 + 2, 2 + 2 + 12).toString('hex')); // after version, kid length, kid "k1"
      if (i % 997 === 0) expect(ring.open(blob, `slot-${i}`).toString()).toBe(`r${i}`);
    }
    expect(nonces.size).toBe(n);
  });

  it('refuses a record moved to another location, tampered or truncated', () => {
    const ring = new Keyring([k1], 'k1');
    const blob = ring.seal(Buffer.from('x'.repeat(40)), 'slot-a');
    expect(() => ring.open(blob, 'slot-b')).toThrow(KeyringError);
    const tampered = Buffer.from(blob);
    tampered[tampered.length - 20] = (tampered[tampered.length - 20] as number) ^ 1;
    expect(() => ring.open(tampered, 'slot-a')).toThrow(KeyringError);
    expect(() => ring.open(blob.subarray(0, 10), 'slot-a')).toThrow(KeyringError);
    expect(() => ring.open(Buffer.from([9, 1, 2]), 'slot-a')).toThrow(/unknown version/);
  });

  it('rotates: old records stay readable and rewrap moves them to the active key', () => {
    const old = new Keyring([k1], 'k1');
    const blob = old.seal(Buffer.from('identity key'), 'slot');
    const rotated = new Keyring([k1, k2], 'k2');
    expect(rotated.keyIdOf(blob)).toBe('k1');
    expect(rotated.open(blob, 'slot').toString()).toBe('identity key');
    const rewrapped = rotated.rewrap(blob, 'slot');
    expect(rewrapped).toBeDefined();
    expect(rotated.keyIdOf(rewrapped as Buffer)).toBe('k2');
    expect(rotated.rewrap(rewrapped as Buffer, 'slot')).toBeUndefined();
    const onlyNew = new Keyring([k2], 'k2');
    expect(onlyNew.open(rewrapped as Buffer, 'slot').toString()).toBe('identity key');
    expect(() => onlyNew.open(blob, 'slot')).toThrow(/"k1", which is not configured/);
  });

  it('rejects bad key configuration', () => {
    expect(() => new Keyring([{ id: 'k', key: randomBytes(16) }], 'k')).toThrow(/32 bytes/);
    expect(() => new Keyring([k1], 'k9')).toThrow(/active key/);
    expect(() => new Keyring([k1, { ...k1 }], 'k1')).toThrow(/twice/);
  });
});
