import { describe, expect, it } from 'vitest';
import { Mailboxes, ackKey, stanzaKey } from '../../src/mock-hub/offline.ts';
import type { IncomingMessage, Stanza } from '../../src/protocol/index.ts';

const A = 'alice@birdy.interop';
const BOB = '447700900123@hub';

function message(id: string): IncomingMessage {
  return { kind: 'message', id, from: BOB, participant: '447700900123:0@hub', type: 'text', t: 1, enc: { v: 1, type: 'msg', ciphertext: new Uint8Array([1]) } };
}

function outlet(): { sent: Stanza[]; send(s: Stanza): void } {
  const sent: Stanza[] = [];
  return { sent, send: (s) => sent.push(s) };
}

describe('mailboxes (spec 2, 5, 8)', () => {
  it('matches acks exactly to what they acknowledge', () => {
    expect(stanzaKey(message('m1'))).toBe(ackKey({ kind: 'ack', class: 'message', id: 'm1', to: BOB }));
    expect(stanzaKey(message('m1'))).not.toBe(ackKey({ kind: 'ack', class: 'message', id: 'm1', to: '1@hub' }));
    const read: Stanza = { kind: 'receipt', id: 'm2', from: BOB, participant: '447700900123:3@hub', type: 'read' };
    expect(stanzaKey(read)).toBe(ackKey({ kind: 'ack', class: 'receipt', id: 'm2', type: 'read', from: BOB, participant: '447700900123:3@hub' }));
    expect(stanzaKey(read)).not.toBe(ackKey({ kind: 'ack', class: 'receipt', id: 'm2', from: BOB, participant: '447700900123:3@hub' }));
    const delivery: Stanza = { kind: 'receipt', id: 'm2', from: BOB, participant: '447700900123:3@hub', type: 'delivery' };
    expect(stanzaKey(delivery)).toBe(ackKey({ kind: 'ack', class: 'receipt', id: 'm2', from: BOB, participant: '447700900123:3@hub' }));
    expect(stanzaKey({ kind: 'notification', id: 'n1', type: 'identity', from: BOB })).toBe(ackKey({ kind: 'ack', class: 'notification', id: 'n1' }));
  });

  it('stores without a session, delivers on attach with offline="1", keeps until acked', () => {
    const stored: number[] = [];
    const acked: string[] = [];
    const m = new Mailboxes({ retentionMs: 1e9, onStored: (_u, n) => stored.push(n), onAcked: (_u, s) => acked.push(s.kind) });
    expect(m.enqueue(A, message('m1'))).toBe(true);
    expect(m.enqueue(A, { kind: 'notification', id: 'n1', type: 'identity', from: BOB })).toBe(true);
    expect(stored).toEqual([1, 2]);
    expect(m.pending(A)).toBe(2);

    const o = outlet();
    m.attach(A, o);
    expect(o.sent.map((s) => s.kind)).toEqual(['message', 'notification']);
    expect((o.sent[0] as IncomingMessage).offline).toBe(true);
    expect(m.ack(A, { kind: 'ack', class: 'message', id: 'm1', to: BOB })).toBe(true);
    expect(m.ack(A, { kind: 'ack', class: 'message', id: 'm1', to: BOB })).toBe(false);
    expect(acked).toEqual(['message']);
    expect(m.pending(A)).toBe(1);

    // live delivery: no offline flag; unacked ones go out again on the next attach, flagged
    expect(m.enqueue(A, message('m2'))).toBe(false);
    expect((o.sent.at(-1) as IncomingMessage).offline).toBeUndefined();
    m.detach(A, o);
    const o2 = outlet();
    m.attach(A, o2);
    expect(o2.sent.map((s) => ('id' in s ? s.id : ''))).toEqual(['n1', 'm2']);
    expect((o2.sent[1] as IncomingMessage).offline).toBe(true);
  });

  it('redelivers unacked stanzas on the same session after the delay, replaces same-key entries', () => {
    let now = 0;
    const m = new Mailboxes({ retentionMs: 1e9, now: () => now });
    const o = outlet();
    m.attach(A, o);
    m.enqueue(A, message('m1'));
    now = 59_000;
    expect(m.redeliver(A, 60_000)).toBe(0);
    now = 60_000;
    expect(m.redeliver(A, 60_000)).toBe(1);
    expect(o.sent).toHaveLength(2);
    // a retry resend under the same id replaces the queued copy
    m.enqueue(A, { ...message('m1'), enc: { v: 1, type: 'pkmsg', count: 1, ciphertext: new Uint8Array([2]) } });
    expect(m.pending(A)).toBe(1);
    // a stale detach (of an older outlet) does not detach the current one
    m.detach(A, outlet());
    expect(m.hasOutlet(A)).toBe(true);
  });

  it('drops entries older than the retention and clears on delist', () => {
    let now = 0;
    const m = new Mailboxes({ retentionMs: 1000, now: () => now });
    m.enqueue(A, message('m1'));
    now = 500;
    m.enqueue(A, message('m2'));
    now = 1200;
    expect(m.pending(A)).toBe(1);
    m.clear(A);
    expect(m.pending(A)).toBe(0);
  });
});
