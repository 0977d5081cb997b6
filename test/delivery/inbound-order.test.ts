// The order in which one hub session's stanzas are handled (inbound.ts #chain): those about one hub
// user in arrival order, different hub users' alongside (one slow decrypt does not hold the rest
// of the session back) but at most 32 at once, and a stanza about no one in particular after
// everything before it and before everything after it.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HubSessionError, type HubConnection, type InboundStanza } from '../../src/hub/connection.ts';
import type { Stanza } from '../../src/protocol/index.ts';
import { until } from './harness.ts';
import { inboundRig, USER, type HubDevice } from './inbound-rig.ts';

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

/** A session of USER's that can close: then, like HubConnection, it is not `open` and sends nothing. */
function session() {
  const sent: Stanza[] = [];
  const send = (s: Stanza) => {
    if (!conn.open) throw new HubSessionError('session is not open', 'closed');
    sent.push(s);
  };
  const conn = {
    user: USER,
    open: true,
    send,
    sendReceipt: (s: Stanza) => (send(s), Promise.resolve({ kind: 'ack' })),
  };
  const acks = (id: string) => sent.filter((s) => s.kind === 'ack' && 'id' in s && s.id === id).length;
  return { conn, hub: conn as unknown as HubConnection, sent, acks };
}

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

  it('a session closed while its stanzas wait: the one being handled is still handed over, the waiting ones are left to the hub, and the next session hands the conversation over in order', async () => {
    rig.delivered.length = 0;
    const cara = await rig.hubDevice(1, { user: 'cara@hub' });
    const c1 = await rig.fromHub(cara, 'first from cara');
    const c2 = await rig.fromHub(cara, 'second from cara');
    const interop = { kind: 'notification', id: 'interop-cara', type: 'interop', from: 'cara@hub', state: 'enabled' } as const;
    const caraNotices = () => rig.notices.filter((n) => n.kind === 'interop-changed' && n.peer === 'cara@hub').length;
    const old = session();
    const stall = stallNext();
    rig.inbound.handle(old.hub, c1);
    await stall.entered;
    rig.inbound.handle(old.hub, interop);
    rig.inbound.handle(old.hub, c2);
    old.conn.open = false; // dropped by the hub, say, while c1 is being stored
    stall.release();
    // c1 is stored: it reaches the adapter now, though its ack could not go out (the hub redelivers it)
    await until(() => deliveredIds().includes(c1.id), 10_000, 'the stored message handed over');

    // The hub redelivers everything unacked to the next session, in order (spec 5).
    const next = session();
    const redelivered: InboundStanza[] = [c1, interop, c2, { kind: 'notification', id: 'mark-cara', type: 'providers', providers: [] }];
    for (const s of redelivered) rig.inbound.handle(next.hub, s);
    await until(() => next.acks('mark-cara') === 1, 10_000, 'the next session’s stanzas handled');
    expect(old.sent).toEqual([]);
    expect(deliveredIds()).toEqual([c1.id, c2.id]);
    expect([next.acks(c1.id), next.acks(interop.id), next.acks(c2.id)]).toEqual([1, 1, 1]);
    // the notification was handled once, on the session that could ack it
    expect(caraNotices()).toBe(1);
  });

  it('a stanza handler failing with something that is not an Error leaves its hub user’s later stanzas to run', async () => {
    rig.delivered.length = 0;
    const dan = await rig.hubDevice(1, { user: 'dan@hub' });
    const d1 = await rig.fromHub(dan, 'first from dan');
    const d2 = await rig.fromHub(dan, 'second from dan');
    rig.edge.stallNext = () => Promise.reject(undefined as unknown as Error);
    rig.inbound.handle(rig.hub, d1);
    rig.inbound.handle(rig.hub, d2);
    await until(() => deliveredIds().includes(d2.id), 10_000, 'dan’s second message handed over');
    expect(rig.acks(d1.id)).toBe(0); // not handled: the hub redelivers it
    expect(rig.acks(d2.id)).toBe(1);
  });
});
