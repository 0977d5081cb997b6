// The inbound path's Redis writes (inbound.ts, handover.ts) on a real Redis, with the handler
// driven directly by stanzas from a simulated hub device: a message is deduplicated by the Signal
// unit's ACQUIRE and stored by its COMMIT with the ratchet step (two round trips before the
// hand-over), a duplicate is found without decrypting, a unit that lost its lock stores nothing
// and is not acked (the redelivery then works), and the pending set and its sweep still hand over
// a message stored by a process that died before acking.
import { createHash } from 'node:crypto';
import { Writable } from 'node:stream';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { HubConnection } from '../../src/hub/connection.ts';
import type { IncomingMessage, Stanza } from '../../src/protocol/index.ts';
import { recordingRedis } from '../support/redis.ts';
import { until } from './harness.ts';
import { HUB_USER, inboundRig, USER, type HubDevice } from './inbound-rig.ts';

// The handler's connection records the commands it sends (BullMQ's duplicates of it do not).
const { redis, sent } = recordingRedis();

const logs: string[] = [];
const logger = pino({ level: 'debug' }, new Writable({ write: (chunk: Buffer, _e, done) => (logs.push(chunk.toString()), done()) }));
/** Redis state seen by the adapter when it is handed a message. */
const seenAtDelivery: Array<{ state: string | null; pending: string | null; acked: boolean }> = [];
let conn: ReturnType<typeof connection>;

const rig = inboundRig({
  redis, lockTtlMs: 300, logger, preKeys: 1,
  onDeliver: async (m) => {
    seenAtDelivery.push({ state: await plain.hget(recordKey(m.id), 'state'), pending: await plain.zscore(PENDING, recordKey(m.id)), acked: conn.acks(m.id) > 0 });
  },
});
const { redis: plain, prefix, lock, edge, inbound, delivered, notices, outcomes } = rig;

/** A hub session as the handler sees it: what it sends is recorded; `failAcks` makes acks throw (a crash before the ack). */
function connection(failAcks = false) {
  const out: Stanza[] = [];
  const c = {
    user: USER,
    open: true,
    send: (s: Stanza) => {
      if (failAcks && s.kind === 'ack') throw new Error('process died before the ack');
      out.push(s);
    },
    sendReceipt: (s: Stanza) => (out.push(s), Promise.resolve({ kind: 'ack' })),
  };
  return { out, hub: c as unknown as HubConnection, acks: (id: string) => out.filter((s) => s.kind === 'ack' && 'id' in s && s.id === id).length };
}

// The simulated hub device and its session with alice.
const HUB_DEVICE = 'ada:3@hub';
let device: HubDevice;
const fromHub = (text: string, contentId?: string): Promise<IncomingMessage> => rig.fromHub(device, text, contentId === undefined ? {} : { contentId });
/** The record key of a hub message, as inbound.ts names it: (from, id) hashed under the user's tag. */
const recordKey = (id: string) => `${prefix}:in:{${USER}}:${createHash('sha256').update(`${HUB_USER}|${id}`).digest('base64url')}`;
const PENDING = `${prefix}:in-pending`;
const sessions = () => plain.hgetallBuffer(`${prefix}:sig:{${USER}}:sessions`);
const logged = (msg: string) => logs.filter((l) => l.includes(msg)).length;

beforeAll(async () => {
  await rig.start();
  device = await rig.hubDevice(3); // HUB_DEVICE
  conn = connection();
  const first = await fromHub('first, a PreKey message');
  inbound.handle(conn.hub, first);
  await until(() => delivered.find((m) => m.id === first.id), 10_000, 'the first message');
});
afterAll(async () => {
  await rig.close();
  redis.disconnect();
});

const receipted = (c: typeof conn, id: string) => c.out.some((s) => s.kind === 'receipt' && s.id === id && s.type === 'delivery');

/** Hands a stanza to the handler, waits until `done` (by default: delivered and receipted); returns the commands sent meanwhile. */
async function handle(m: IncomingMessage, done = () => receipted(conn, m.id), c = conn): Promise<string[]> {
  const from = sent.length;
  inbound.handle(c.hub, m);
  await until(done, 10_000, `message ${m.id} handled`);
  return sent.slice(from);
}

describe('inbound: the record is stored by the Signal unit that decrypted it', () => {
  it('one message: ACQUIRE, COMMIT (record, pending entry, ratchet step), ack, hand-over, then the delivered script', async () => {
    const m = await fromHub('hello');
    const before = await sessions();
    const cmds = await handle(m);
    expect(cmds).toEqual(['evalsha', 'evalsha', 'evalsha']);
    // When the adapter got it, it was stored, pending and acked; now delivered, its content gone.
    expect(seenAtDelivery.at(-1)).toEqual({ state: 'stored', pending: expect.any(String), acked: true });
    expect(await plain.hgetall(recordKey(m.id))).toEqual({ state: 'delivered', at: expect.any(String) });
    expect(await plain.zscore(PENDING, recordKey(m.id))).toBeNull();
    expect(await sessions()).not.toEqual(before);
    expect(conn.acks(m.id)).toBe(1);
    expect(delivered.at(-1)).toMatchObject({ id: m.id, from: HUB_USER, fromDevice: HUB_DEVICE, to: USER, text: 'hello', offline: false });
  });

  it('a redelivered message is found by ACQUIRE alone: acked, not decrypted, not delivered again', async () => {
    const m = await fromHub('twice');
    await handle(m);
    const before = await sessions();
    const count = delivered.length;
    const cmds = await handle(m, () => conn.acks(m.id) === 2);
    expect(cmds).toEqual(['evalsha']);
    expect(outcomes.at(-1)).toBe('duplicate');
    expect(await sessions()).toEqual(before); // sealed with a fresh nonce each time: equal means not written
    await new Promise((r) => setTimeout(r, 100));
    expect(delivered.length).toBe(count);
    expect(notices.some((x) => x.kind === 'undecryptable' && x.messageId === m.id)).toBe(false);
  });

  it('a unit that lost its lock stores nothing and does not ack; the redelivery is decrypted, stored and delivered once', async () => {
    const m = await fromHub('lost lock');
    const before = await sessions();
    const failures = logged('inbound stanza not handled');
    // The unit outlives its lock and loses it to another holder.
    edge.stallNext = async (user, peer) => {
      await new Promise((r) => setTimeout(r, 450)); // past the 300 ms TTL
      await plain.set(lock.keyOf(user, peer), 'another-holder', 'PX', 5000);
    };
    await handle(m, () => logged('inbound stanza not handled') > failures);
    expect(conn.acks(m.id)).toBe(0);
    expect(await plain.exists(recordKey(m.id))).toBe(0);
    expect(await plain.zscore(PENDING, recordKey(m.id))).toBeNull();
    expect(await sessions()).toEqual(before);
    expect(notices.some((x) => x.kind === 'undecryptable' && x.messageId === m.id)).toBe(false);
    expect(conn.out.some((s) => s.kind === 'receipt' && s.id === m.id)).toBe(false); // no retry receipt
    await plain.del(lock.keyOf(USER, HUB_DEVICE)); // the other holder is done

    await handle(m);
    expect(delivered.filter((d) => d.id === m.id)).toHaveLength(1);
    expect(conn.acks(m.id)).toBe(1);
  });

  it('died after COMMIT, before the ack: the redelivery is acked as a duplicate and the sweep hands the stored message over', async () => {
    const dying = connection(true);
    const m = await fromHub('survives a crash');
    const failures = logged('inbound stanza not handled');
    await handle(m, () => logged('inbound stanza not handled') > failures, dying);
    expect(await plain.hget(recordKey(m.id), 'state')).toBe('stored');
    expect(delivered.some((d) => d.id === m.id)).toBe(false);

    await handle(m, () => conn.acks(m.id) === 1); // the hub redelivers it on the next session
    expect(outcomes.at(-1)).toBe('duplicate');
    expect(delivered.some((d) => d.id === m.id)).toBe(false);

    await plain.zadd(PENDING, 'XX', Date.now() - 1, recordKey(m.id)); // overdue, as after 10 s
    await inbound.start(); // its sweep runs at once; the inbound queue's worker hands it over
    await until(() => delivered.find((d) => d.id === m.id), 10_000, 'handed over by the sweep');
    expect(delivered.filter((d) => d.id === m.id)).toHaveLength(1);
    expect(delivered.find((d) => d.id === m.id)?.text).toBe('survives a crash');
  });

  it('messages of one session are handed over in order; one relabelled on the way is acked and dropped', async () => {
    const batch = await Promise.all(['one', 'two', 'three', 'four', 'five'].map((t) => fromHub(t)));
    const relabelled = await fromHub('relabelled', 'some-other-message-id');
    const from = delivered.length;
    for (const m of [...batch.slice(0, 2), relabelled, ...batch.slice(2)]) inbound.handle(conn.hub, m);
    await until(() => receipted(conn, (batch.at(-1) as IncomingMessage).id), 10_000, 'the batch');
    expect(delivered.slice(from).map((d) => d.text)).toEqual(['one', 'two', 'three', 'four', 'five']);
    expect(conn.acks(relabelled.id)).toBe(1);
    // remembered as dropped (a redelivery is a duplicate), never pending a hand-over
    expect(await plain.hgetall(recordKey(relabelled.id))).toEqual({ state: 'dropped' });
    expect(await plain.zscore(PENDING, recordKey(relabelled.id))).toBeNull();
  });
});

// Last in this file: it stops the shared handler.
describe('stopping', () => {
  it('lets the stanzas being handled finish before its queue stops, and leaves later ones to the hub', async () => {
    const a = await fromHub('handled while stopping');
    const b = await fromHub('pushed after the stop began');
    inbound.handle(conn.hub, a);
    const closing = inbound.close(5000);
    inbound.handle(conn.hub, b);
    await closing;
    // The one being handled went all the way: stored, acked, handed over, marked delivered.
    expect(conn.acks(a.id)).toBe(1);
    expect(delivered.some((m) => m.id === a.id)).toBe(true);
    expect(await plain.hget(recordKey(a.id), 'state')).toBe('delivered');
    // The later one was not touched: not acked (the hub redelivers it), nothing stored.
    await new Promise((r) => setTimeout(r, 300));
    expect(conn.acks(b.id)).toBe(0);
    expect(await plain.exists(recordKey(b.id))).toBe(0);
  });
});
