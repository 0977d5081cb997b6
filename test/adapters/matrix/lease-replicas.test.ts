// Two Causeway replicas of the Matrix adapter on one Redis, behind one appservice URL (a
// round-robin load balancer), with the core's hub → Matrix work handed to either: one replica at a
// time runs the bridge's crypto devices (the lease), the lease moves to whichever has work and the
// one that hands it over keeps no device in memory; a killed holder is replaced once its lease
// expires and the survivor still decrypts the Matrix user's messages and encrypts the replies with
// the same device; a graceful stop releases the lease at once.
import type { MatrixClient } from 'matrix-js-sdk';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, until } from '../../delivery/harness.ts';
import { openPortal, timelineEvent } from './support/bridge-harness.ts';
import { replicasHarness, SERVER, type Replica } from './support/replicas.ts';

const ADA = '447700900123@hub';
const PUPPET = `@hub_447700900123:${SERVER}`;
type Inbox = { messages: Array<{ device: number; decrypted: boolean; content?: { text?: string } }> };

let h: Awaited<ReturnType<typeof replicasHarness>>;
let a: Replica;
let b: Replica;
let alice: MatrixClient;
let portal: string;
let mostHolders = 0;
const heldBy = new Set<string>();
let sampler: NodeJS.Timeout;

beforeAll(async () => {
  h = await replicasHarness({
    hubUsers: { users: [{ phone: '+447700900123', name: 'Ada', devices: [0, 2], script: { echo: true, receipts: false, read: false, delay_ms: 0 } }] },
  });
  a = await h.startReplica('a');
  b = await h.startReplica('b');
  // Never two holders at once, sampled all along.
  sampler = setInterval(() => {
    const holders = h.holders();
    mostHolders = Math.max(mostHolders, holders.length);
    for (const r of holders) heldBy.add(r.name);
  }, 5);
  alice = await h.client('alice');
  await h.core.setInterop('matrix', 'alice', true);
  portal = await openPortal(alice, h.hs, PUPPET, { ms: 20_000 });
}, 60_000);
afterAll(async () => {
  clearInterval(sampler);
  await h?.shutdown();
});

const inbox = async () => ((await h.control('GET', `/users/${ADA}/inbox`)).body as unknown as Inbox).messages;
/** Alice's message reaches both of Ada's devices, decrypted, and Ada's echo reaches Alice, decrypted. */
async function roundTrip(text: string): Promise<void> {
  await alice.sendTextMessage(portal, text);
  await eventually(async () => (await inbox()).filter((m) => m.content?.text === text && m.decrypted).length === 2, 25_000, `"${text}" at the hub`);
  const echo = await timelineEvent(alice, portal, (e) => e.getSender() === PUPPET && e.getContent().body === `echo: ${text}`, 25_000);
  expect(echo.isEncrypted()).toBe(true);
}
const puppetDevice = () => {
  const devices = h.hs.state.users.get(PUPPET)?.devices;
  return { ids: [...(devices?.keys() ?? [])], keys: JSON.stringify([...(devices?.values() ?? [])].map((d) => d.keys)) };
};

describe('Matrix adapter with two replicas on one Redis', () => {
  it('runs the devices on one replica at a time, whichever replica the work reaches', async () => {
    for (const text of ['one', 'two', 'three']) await roundTrip(text);
    expect(mostHolders).toBe(1);
    // The lease moved to where the work was: both replicas held it in turn.
    expect([...heldBy].sort()).toEqual(['a', 'b']);
    // The load balancer sent transactions to both replicas; the lease's value is one of them.
    expect(a.answers.length).toBeGreaterThan(0);
    expect(b.answers.length).toBeGreaterThan(0);
    expect([a.connector.lease.token, b.connector.lease.token]).toContain(await h.redis.get(a.connector.lease.key));
    // A replica that does not hold the lease keeps no device in memory: it reloads from Redis when it takes it.
    await until(() => h.holders().length === 1, 5_000, 'a holder');
    const other = h.holders()[0] === a ? b : a;
    expect(other.connector.bridge.devices.openCount).toBe(0);
  });

  it('replaces a killed holder after its lease expires; the survivor decrypts and encrypts with the same device', async () => {
    const before = puppetDevice();
    expect(before.ids).toHaveLength(1);
    await until(() => h.holders().length === 1, 5_000, 'a holder');
    const holder = h.holders()[0] as Replica;
    const survivor = holder === a ? b : a;
    await h.kill(holder);
    await roundTrip('after the crash');
    expect(survivor.connector.lease.held).toBe(true);
    expect(await h.redis.get(survivor.connector.lease.key)).toBe(survivor.connector.lease.token);
    // The same device and Olm account (identity keys): restored from Redis, not created again.
    expect(puppetDevice()).toEqual(before);
    expect(mostHolders).toBe(1);
  });

  it('hands over at once on a graceful stop, to a new replica that takes over the same state', async () => {
    const before = puppetDevice();
    const survivor = h.replicas.find((r) => r.alive) as Replica;
    const c = await h.startReplica('c');
    await h.close(survivor);
    expect(await h.redis.get(c.connector.lease.key)).toBeNull(); // released, not left to expire
    const t0 = Date.now();
    await roundTrip('to the new replica');
    expect(c.connector.lease.held).toBe(true);
    expect(Date.now() - t0).toBeLessThan(15_000);
    expect(puppetDevice()).toEqual(before);
    expect(mostHolders).toBe(1);
  });
});
