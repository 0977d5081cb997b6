// A stored inbound message whose job could not be added to the inbound queue (handover.ts: a Redis
// error, the queue closed during shutdown, or a crash between the two writes) stays in the
// sweep's sight: its pending entry is moved an hour out (QUEUED_MS) only once its job exists, so
// the next sweep gives it to the queue and it reaches the adapter, instead of an hour later.
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { HubConnection } from '../../src/hub/connection.ts';
import type { Stanza } from '../../src/protocol/index.ts';
import { eventually, until } from './harness.ts';
import { HUB_USER, inboundRig, USER, type HubDevice } from './inbound-rig.ts';

/** The adapter refuses the messages whose text is listed, once each. */
const refuseOnce = new Set<string>();
const rig = inboundRig({
  onDeliver: async (m) => {
    if (m.text !== undefined && refuseOnce.delete(m.text)) throw new Error('the adapter is down');
  },
});
const { redis, prefix, inbound, delivered } = rig;
const PENDING = `${prefix}:in-pending`;
const HOUR = 3600_000;
const recordKey = (id: string) => `${prefix}:in:{${USER}}:${createHash('sha256').update(`${HUB_USER}|${id}`).digest('base64url')}`;
const score = async (id: string) => {
  const s = await redis.zscore(PENDING, recordKey(id));
  return s === null ? null : Number(s);
};
/** queue.add rejects once, as when Redis fails or the queue was closed by a shutdown. */
const failNextAdd = () => vi.spyOn(inbound.queue, 'add').mockRejectedValueOnce(new Error('Connection is closed.'));

let device: HubDevice;
let started = false;
/** Starts the hand-over's worker (and its periodic sweep), once. */
async function start(): Promise<void> {
  if (started) return;
  started = true;
  await inbound.start();
}
beforeAll(async () => {
  await rig.start();
  device = await rig.hubDevice(2);
});
afterAll(async () => {
  vi.restoreAllMocks();
  await rig.close();
});

describe('inbound hand-over: the queue refusing a job leaves the message to the next sweep', () => {
  // First in this file: the handover is not started yet (no worker, no periodic sweep), so the
  // sweeps below are the only ones.
  it('sweep: a failed add does not hide the entry for an hour; the next sweep gives it to the queue and it is delivered', async () => {
    // A process died after storing it, before its ack and hand-over: it is only in the pending set.
    const dying = {
      user: USER,
      open: true,
      send: (s: Stanza) => {
        if (s.kind === 'ack') throw new Error('process died before the ack');
      },
      sendReceipt: () => Promise.resolve({ kind: 'ack' }),
    } as unknown as HubConnection;
    const m = await rig.fromHub(device, 'stored by a process that died');
    inbound.handle(dying, m);
    await eventually(async () => (await redis.hget(recordKey(m.id), 'state')) === 'stored', 10_000, 'stored');
    await until(() => rig.outcomes.includes('not-handled'), 10_000, 'the stanza given up');
    await redis.zadd(PENDING, 'XX', Date.now() - 1, recordKey(m.id)); // overdue, as 10 s later

    failNextAdd();
    await expect(inbound.sweep()).rejects.toThrow('Connection is closed.');
    // Still overdue: the next sweep sees it (it used to be an hour out, with no job to deliver it).
    expect(await score(m.id)).toBeLessThanOrEqual(Date.now());
    expect(await inbound.queue.getJobCounts('waiting', 'delayed')).toEqual({ waiting: 0, delayed: 0 });

    expect(await inbound.sweep()).toBe(1); // the job is added, then the entry moved out of sight
    expect(await score(m.id)).toBeGreaterThan(Date.now() + HOUR - 60_000);
    expect(await inbound.queue.getJobCounts('waiting')).toEqual({ waiting: 1 });
    expect(await inbound.sweep()).toBe(0); // nothing overdue left

    await start(); // its worker takes the job
    await until(() => delivered.find((d) => d.id === m.id), 10_000, 'delivered by the queue');
    await eventually(async () => (await redis.hget(recordKey(m.id), 'state')) === 'delivered', 10_000, 'marked delivered');
    expect(await score(m.id)).toBeNull();
    expect(delivered.filter((d) => d.id === m.id)).toHaveLength(1);
  });

  it('a refused hand-over whose retry job cannot be added stays visible to the sweep, which delivers it', async () => {
    await start();
    const m = await rig.fromHub(device, 'refused, then no retry job');
    refuseOnce.add('refused, then no retry job');
    failNextAdd();
    await rig.handle(m); // stored, acked, refused by the adapter; its retry job fails to be added
    expect(rig.acks(m.id)).toBe(1);
    expect(delivered.some((d) => d.id === m.id)).toBe(false);
    // Left as the in-process hand-over left it (visible within 10 s), not an hour out.
    const s = await score(m.id);
    expect(s).not.toBeNull();
    expect(s).toBeLessThanOrEqual(Date.now() + 10_000);

    await redis.zadd(PENDING, 'XX', Date.now() - 1, recordKey(m.id)); // overdue, as 10 s later
    await inbound.sweep(); // (or the periodic one, if it got there first: the job id is the same)
    await until(() => delivered.find((d) => d.id === m.id), 10_000, 'delivered by the queue');
    await eventually(async () => (await score(m.id)) === null, 10_000, 'its pending entry gone');
    expect(delivered.filter((d) => d.id === m.id)).toHaveLength(1);
    expect(await redis.hget(recordKey(m.id), 'state')).toBe('delivered');
  });

  it('a retry job that finishes before the entry is moved out does not bring the entry back', async () => {
    await start();
    const m = await rig.fromHub(device, 'retried at once');
    refuseOnce.add('retried at once');
    const add = inbound.queue.add.bind(inbound.queue);
    vi.spyOn(inbound.queue, 'add').mockImplementationOnce(async (...args) => {
      const job = await add(...args);
      // the delayed retry runs (500 ms) and delivers before handOver moves the entry
      await eventually(async () => (await score(m.id)) === null, 10_000, 'delivered by the retry job');
      return job;
    });
    await rig.handle(m);
    expect(delivered.filter((d) => d.id === m.id)).toHaveLength(1);
    expect(await score(m.id)).toBeNull();
    expect(await redis.hget(recordKey(m.id), 'state')).toBe('delivered');
  });

  it('a sweep adding the job of a message whose retry is already queued is a no-op: delivered once', async () => {
    await start();
    const m = await rig.fromHub(device, 'refused, swept meanwhile');
    refuseOnce.add('refused, swept meanwhile');
    await rig.handle(m); // refused: a retry job in 500 ms, the entry an hour out
    expect(await score(m.id)).toBeGreaterThan(Date.now() + HOUR - 60_000);
    await redis.zadd(PENDING, 'XX', Date.now() - 1, recordKey(m.id)); // as if overdue while the job waits
    await inbound.sweep(); // same job id: the delayed job stays the only one
    await until(() => delivered.find((d) => d.id === m.id), 10_000, 'delivered by the retry job');
    await eventually(async () => (await score(m.id)) === null, 10_000, 'its pending entry gone');
    await new Promise((r) => setTimeout(r, 700));
    expect(delivered.filter((d) => d.id === m.id)).toHaveLength(1);
  });
});
