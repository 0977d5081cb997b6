import { describe, expect, it } from 'vitest';
import { IdempotenceStore, messageFingerprint } from '../../src/mock-hub/idempotence.ts';
import type { OutgoingMessage } from '../../src/protocol/index.ts';

function msg(over: Partial<OutgoingMessage> = {}, cipher = [1, 2, 3]): OutgoingMessage {
  return {
    kind: 'message', id: 'msg0000001', to: '447700900123@hub', type: 'text', t: 1763800000, dhash: '2:pYHTvpwl',
    participants: [
      { jid: '447700900123:0@hub', enc: { v: 1, type: 'pkmsg', ciphertext: new Uint8Array(cipher) } },
      { jid: '447700900123:3@hub', enc: { v: 1, type: 'msg', ciphertext: new Uint8Array([9, 9]) } },
    ],
    ...over,
  };
}

describe('idempotence (spec 4)', () => {
  it('fingerprints recipient, type, mediatypes and ciphertexts, not t, dhash, count or order', () => {
    const base = messageFingerprint(msg());
    expect(messageFingerprint(msg({ t: 1, dhash: '2:AAAAAAAA' }))).toBe(base);
    const reordered = msg();
    reordered.participants.reverse();
    expect(messageFingerprint(reordered)).toBe(base);
    const counted = msg();
    counted.participants[0]!.enc.count = 2;
    expect(messageFingerprint(counted)).toBe(base);
    expect(messageFingerprint(msg({}, [1, 2, 4]))).not.toBe(base);
    expect(messageFingerprint(msg({ to: '447700900124@hub' }))).not.toBe(base);
    expect(messageFingerprint(msg({ type: 'media' }))).not.toBe(base);
    const media = msg();
    media.participants[0]!.enc.mediatype = 'image';
    expect(messageFingerprint(media)).not.toBe(base);
    const typed = msg();
    typed.participants[0]!.enc.type = 'msg';
    expect(messageFingerprint(typed)).not.toBe(base);
  });

  it('remembers (sender, id) for the configured time', () => {
    let now = 1_000_000;
    const s = new IdempotenceStore(7 * 86_400_000, () => now);
    expect(s.get('alice@birdy.interop', 'msg0000001')).toBeUndefined();
    s.put('alice@birdy.interop', 'msg0000001', '447700900123@hub', 'fp', 1763800001);
    expect(s.get('alice@birdy.interop', 'msg0000001')).toMatchObject({ fingerprint: 'fp', t: 1763800001, to: '447700900123@hub' });
    expect(s.get('carol@birdy.interop', 'msg0000001')).toBeUndefined();
    now += 7 * 86_400_000 - 1;
    expect(s.get('alice@birdy.interop', 'msg0000001')).toBeDefined();
    now += 1;
    expect(s.get('alice@birdy.interop', 'msg0000001')).toBeUndefined();
    // expired entries are swept (at most once a minute)
    now += 60_000;
    s.get('carol@birdy.interop', 'x0000000');
    expect(s.size).toBe(0);
  });
});
