// Two holders of one lane that both encrypt the same message (the first one's lease lapsed while it
// encrypted): the Signal unit's COMMIT keeps the frame stored first (UnitWrites `nx`), and the
// second holder must send THAT frame, not the one it built: the hub keeps the first accepted stanza
// of an id and answers any other body under it `id-reused` (spec 4). The COMMIT script's reply says
// whether the frame was written, so the normal case costs no round trip; only the holder that lost
// the race reads the stored frame (one HGET). Driven through OutboundAttempt on a real Redis with
// real libsignal sessions and a connection that answers as the hub's idempotence rule does.
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Staged, type KeptField } from '../../src/crypto/unit-writes.ts';
import { OutboundAttempt, type AttemptCounters, type OutboundWorkerOptions } from '../../src/delivery/outbound-attempt.ts';
import type { DeviceDirectory } from '../../src/delivery/devices.ts';
import type { HubConnection } from '../../src/hub/connection.ts';
import type { AckStanza } from '../../src/protocol/index.ts';
import { recordingRedis } from '../support/redis.ts';
import { frameRig, USER } from './frame-rig.ts';

// The outbox (the attempt's, as in the core) on a connection that records the commands it sends.
const { redis, sent: commands } = recordingRedis();
const rig = frameRig(redis);
const { prefix, ring, edge, outbox, deviceList, storedFrame } = rig;

/** The hub's side of spec 4's idempotence: the first stanza of an id is accepted, another body is `id-reused`. */
const accepted = new Map<string, string>();
const frames: string[] = [];
const hub = {
  sendMessage: async (m: { id: string; frame: string }): Promise<AckStanza> => {
    frames.push(m.frame);
    const first = accepted.get(m.id);
    if (first !== undefined && first !== m.frame) return { kind: 'ack', class: 'message', id: m.id, error: 400, reason: 'id-reused' };
    accepted.set(m.id, m.frame);
    return { kind: 'ack', class: 'message', id: m.id, t: 1_700_000_000 };
  },
} as unknown as HubConnection;

const counters: AttemptCounters = { staleDevices: 0, storedFrameResends: 0, enlisted: 0, reopened: 0 };
const attempt = new OutboundAttempt({
  redis, prefix, keyring: ring, outbox, edge, ackTimeoutMs: 1000,
  devices: { get: async () => deviceList } as unknown as DeviceDirectory,
  identityChanged: async () => 'continue',
  logger: pino({ level: 'silent' }),
} as unknown as OutboundWorkerOptions, counters);

beforeAll(() => rig.start());
afterAll(async () => {
  await rig.close();
  redis.disconnect();
});

describe('a message encrypted by two holders of its lane', () => {
  it('is sent by the second one with the frame the first stored, byte-identical, for one extra read', async () => {
    const r = await rig.queued();
    frames.length = 0;

    // The first holder: builds, stores (in its unit's COMMIT) and sends its frame.
    commands.length = 0;
    const first = await attempt.run(hub, USER, r, undefined);
    expect(first.ack.error).toBeUndefined();
    expect(commands).toEqual(['evalsha', 'evalsha']); // ACQUIRE, COMMIT: the frame costs nothing more
    const stored = await storedFrame(r.id);
    expect(stored).toBe(frames[0]);

    // The second holder claimed the message before that frame was stored (its claim saw none), so
    // it encrypts too: a second ratchet step, a different body, which COMMIT does not store.
    commands.length = 0;
    const second = await attempt.run(hub, USER, r, undefined);
    expect(frames).toHaveLength(2);
    expect(frames[1]).toBe(frames[0]);
    expect(second.ack.error).toBeUndefined();
    expect(await storedFrame(r.id)).toBe(stored);
    expect(commands).toEqual(['evalsha', 'evalsha', 'hget']); // the stored frame read once
  });
});

describe('COMMIT\'s answer for set-if-absent writes', () => {
  it('goes to the `committed` of the writes each kept field belongs to, in order', () => {
    const s = new Staged();
    const got: KeptField[][] = [];
    s.add({ zadds: [{ key: 'z', score: 1, member: 'm' }], hashes: [{ key: 'a', fields: { f: 'v' } }, { key: 'b', fields: { g: '1', h: '2' }, nx: true }], committed: (k) => got.push(k) });
    s.add({ hashes: [{ key: 'c', fields: { i: '3' }, nx: true }] });
    s.add({ hashes: [{ key: 'd', fields: { j: '4' }, nx: true }], committed: (k) => got.push(k) });
    // HSETNX answers for b.g, b.h, c.i, d.j: b.h and d.j were set already.
    s.committed([1, 0, 0, 0]);
    expect(got).toEqual([[{ key: 'b', field: 'h' }], [{ key: 'd', field: 'j' }]]);
  });
});
