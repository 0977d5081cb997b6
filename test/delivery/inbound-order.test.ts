// The order in which one hub session's stanzas are handled (inbound.ts #chain): those about one hub
// user in arrival order, different hub users' alongside (one slow decrypt does not hold the rest
// of the session back) but at most 32 at once, and a stanza about no one in particular after
// everything before it and before everything after it.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { until } from './harness.ts';
import { inboundRig, type HubDevice } from './inbound-rig.ts';

const rig = inboundRig();
let ada: HubDevice;
let ben: HubDevice;

beforeAll(async () => {
  await rig.start();
  ada = await rig.hubDevice(1);
  ben = await rig.hubDevice(1, { user: 'ben@hub' });
});
afterAll(() => rig.close());

/** Stalls the next decrypt once it has decrypted, until `release`; `entered` resolves when it got there. */
function stallNext(): { entered: Promise<void>; release: () => void } {
  let release!: () => void;
  let enter!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  const entered = new Promise<void>((r) => (enter = r));
  rig.edge.stallNext = () => {
    enter();
    return gate;
  };
  return { entered, release };
}

const deliveredIds = () => rig.delivered.map((m) => m.id);

describe('inbound stanzas of one session', () => {
  it('another hub user’s message goes ahead of a stalled one; the stalled user’s next message waits for it', async () => {
    rig.delivered.length = 0;
    const a1 = await rig.fromHub(ada, 'first from ada');
    const a2 = await rig.fromHub(ada, 'second from ada');
    const b1 = await rig.fromHub(ben, 'from ben');
    const stall = stallNext();
    rig.inbound.handle(rig.hub, a1);
    await stall.entered;
    rig.inbound.handle(rig.hub, a2);
    rig.inbound.handle(rig.hub, b1);
    await until(() => deliveredIds().includes(b1.id), 10_000, 'ben’s message handed over while ada’s is stalled');
    expect(deliveredIds()).toEqual([b1.id]);
    expect(rig.acks(a1.id) + rig.acks(a2.id)).toBe(0);

    stall.release();
    await until(() => rig.delivered.length === 3, 10_000, 'ada’s two messages handed over');
    expect(deliveredIds()).toEqual([b1.id, a1.id, a2.id]);
    expect(rig.delivered.map((m) => m.text)).toEqual(['from ben', 'first from ada', 'second from ada']);
  });

  it('a notification about no one in particular waits for what came before it, and what comes after waits for it', async () => {
    rig.delivered.length = 0;
    const a1 = await rig.fromHub(ada, 'ada before the barrier');
    const b1 = await rig.fromHub(ben, 'ben after the barrier');
    const stall = stallNext();
    rig.inbound.handle(rig.hub, a1);
    await stall.entered;
    rig.inbound.handle(rig.hub, { kind: 'notification', id: 'barrier1', type: 'providers', providers: [] });
    rig.inbound.handle(rig.hub, b1);
    await new Promise((r) => setTimeout(r, 300));
    expect(rig.acks('barrier1')).toBe(0);
    expect(deliveredIds()).toEqual([]);

    stall.release();
    await until(() => rig.delivered.length === 2, 10_000, 'both messages handed over');
    expect(deliveredIds()).toEqual([a1.id, b1.id]);
    expect(rig.acks('barrier1')).toBe(1);
  });

  it('at most 32 stanzas of one session are handled at once, and every one is handled', async () => {
    rig.delivered.length = 0;
    const devices = await Promise.all(Array.from({ length: 40 }, (_, i) => rig.hubDevice(1, { user: `crowd${i}@hub` })));
    const messages = await Promise.all(devices.map((d, i) => rig.fromHub(d, `crowd ${i}`)));
    let active = 0;
    let most = 0;
    rig.edge.stallEach = async () => {
      most = Math.max(most, ++active);
      await new Promise((r) => setTimeout(r, 100));
      active--;
    };
    try {
      for (const m of messages) rig.inbound.handle(rig.hub, m);
      await until(() => rig.delivered.length === 40, 20_000, 'the 40 messages handed over');
    } finally {
      rig.edge.stallEach = undefined;
    }
    expect(most).toBe(32);
    expect(new Set(deliveredIds())).toEqual(new Set(messages.map((m) => m.id)));
    expect(messages.every((m) => rig.acks(m.id) === 1)).toBe(true);
  });
});
