// The ack table of spec 4 as the outbound worker applies it, driven through the mock hub's faults.
import { PrivateKey, ProtocolAddress } from '@signalapp/libsignal-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DeviceDirectory } from '../../src/delivery/devices.ts';
import { computeDhash } from '../../src/protocol/index.ts';
import { eventually, harness, until } from './harness.ts';

type Inbox = { messages: Array<{ id: string; device: number; decrypted: boolean; content?: { text?: string } }> };
const ADA = '447700900123@hub';
let h: Awaited<ReturnType<typeof harness>>;
let n = 0;

beforeAll(async () => {
  // 12 attempts (the default): with 5 and full jitter, all of them fit in the 5xx test's 400 ms
  // outage about one run in ten, and the message rightly fails as expired.
  h = await harness({ users: [{ phone: '+447700900123', name: 'Ada', devices: [0, 3], script: { echo: false, receipts: false, read: false, delay_ms: 0 } }] }, { maxAttempts: 12 });
  await h.core.setInterop('rec', 'alice', true);
});
afterAll(() => h.close());

const inbox = async () => ((await h.control('GET', `/users/${ADA}/inbox`)).body as unknown as Inbox).messages;
async function send(text: string) {
  return (await h.core.submit('rec', { idempotencyKey: `ae-${n++}`, from: 'alice', to: ADA, text })).messageId;
}
const sent = (id: string) => until(() => h.connector.statuses.find((s) => s.messageId === id && s.state === 'sent'), 20_000, `sent ${id}`);

describe('ack errors (spec 4)', () => {
  it('429: waits retry-after without spending attempts, then delivers once', async () => {
    await h.control('PUT', '/faults', { error: { rate: 1, code: 429, retry_after: 1 } });
    const id = await send('after a rate limit');
    await new Promise((r) => setTimeout(r, 1500));
    expect(h.connector.statuses.some((s) => s.messageId === id && s.state !== 'queued')).toBe(false);
    await h.control('DELETE', '/faults');
    await sent(id);
    expect(h.core.outbound.counters.rateLimited).toBeGreaterThan(0);
    expect((await inbox()).filter((m) => m.id === id)).toHaveLength(2);
  });

  it('5xx: backs off and retries until the hub recovers', async () => {
    await h.control('PUT', '/faults', { error: { rate: 1, code: 503 } });
    const id = await send('after an outage');
    await new Promise((r) => setTimeout(r, 400));
    await h.control('DELETE', '/faults');
    await sent(id);
    expect((await inbox()).filter((m) => m.id === id)).toHaveLength(2);
  });

  it('401: the session is reopened and the message delivered once', async () => {
    await h.control('PUT', '/faults', { error: { rate: 1, code: 401 } });
    const id = await send('after a session expiry');
    await new Promise((r) => setTimeout(r, 400));
    await h.control('DELETE', '/faults');
    await sent(id);
    expect(h.core.outbound.counters.reopened).toBeGreaterThan(0);
    expect((await inbox()).filter((m) => m.id === id)).toHaveLength(2);
  });

  it('a lost ack is answered by resending the stored frame; the hub delivers it once', async () => {
    await h.control('PUT', '/faults', { drop_acks_rate: 1 });
    const id = await send('ack lost on the way');
    await new Promise((r) => setTimeout(r, 1300));
    await h.control('DELETE', '/faults');
    await sent(id);
    expect(h.core.outbound.counters.storedFrameResends).toBeGreaterThan(0);
    const got = (await inbox()).filter((m) => m.id === id);
    expect(got.map((m) => m.device).sort()).toEqual([0, 3]);
  });

  it('409: re-encrypts for the new device list under the same id', async () => {
    const first = await send('before the new device');
    await sent(first);
    const devices = new DeviceDirectory(h.redis, h.prefix);
    const added = (await h.control('POST', `/users/${ADA}/devices`, {})).body as { device: number };
    // This replica missed the devices notification: its cached list is the old one.
    await new Promise((r) => setTimeout(r, 200));
    await devices.set({ jid: ADA, devices: [0, 3], dhash: computeDhash([`447700900123:0@hub`, `447700900123:3@hub`]) });
    const stale = h.core.outbound.counters.staleDevices;
    const id = await send('after the new device');
    await sent(id);
    expect(h.core.outbound.counters.staleDevices).toBe(stale + 1);
    const got = (await inbox()).filter((m) => m.id === id);
    expect(got.map((m) => m.device).sort((a, b) => a - b)).toEqual([0, 3, added.device].sort((a, b) => a - b));
    expect(got.every((m) => m.decrypted && m.content?.text === 'after the new device')).toBe(true);
  });

  it('a hub user resets its identity: the sender is told, and the next message reaches the new identity', async () => {
    await h.control('POST', `/users/${ADA}/identity`, {});
    await until(() => h.connector.notices.find((x) => x.kind === 'safety-number-changed' && x.peer === ADA), 10_000, 'notice');
    const id = await send('after the safety number changed');
    await sent(id);
    const got = (await inbox()).filter((m) => m.id === id);
    expect(got.length).toBeGreaterThanOrEqual(2);
    expect(got.every((m) => m.decrypted && m.content?.text === 'after the safety number changed')).toBe(true);
  });

  it('hub outage: sessions refused for 10 s, every message delivered afterwards, none twice', async () => {
    h.sessions.close('alice@birdy.interop');
    await h.control('PUT', '/faults', { refuse_sessions_for_s: 10 });
    const ids: string[] = [];
    for (let i = 0; i < 10; i++) ids.push(await send(`during the outage ${i}`));
    await new Promise((r) => setTimeout(r, 1000));
    expect(h.connector.statuses.some((s) => ids.includes(s.messageId) && s.state !== 'queued')).toBe(false);
    for (const id of ids) await sent(id);
    expect(h.core.outbound.counters.hubUnavailable).toBeGreaterThan(0);
    const got = (await inbox()).filter((m) => ids.includes(m.id) && m.device === 0);
    expect(got.map((m) => m.content?.text)).toEqual(ids.map((_, i) => `during the outage ${i}`));
  });

  it('an untrusted identity in a fresh bundle is handled as an identity change (notice, then continue)', async () => {
    const store = h.core.accounts.store('alice@birdy.interop');
    // Alice trusted some other key for Ada's device, and has no session: the next bundle disagrees.
    await store.dropSessionsOf((name) => name.endsWith('@hub'));
    await store.identities.trust(ProtocolAddress.new('447700900123:0@hub', 1), PrivateKey.generate().getPublicKey());
    const notices = h.connector.notices.length;
    const id = await send('despite a stale trusted key');
    await sent(id);
    expect(h.connector.notices.slice(notices)).toContainEqual(expect.objectContaining({ kind: 'safety-number-changed', peer: ADA, held: false }));
    const got = (await inbox()).filter((m) => m.id === id && m.decrypted);
    expect(got.map((m) => m.content?.text)).toContain('despite a stale trusted key');
  });
});

describe('stopping with an ack still awaited', () => {
  it('gives the lane lease up once the grace is over; the next replica finishes the message, delivered once', async () => {
    const r = await h.replica(false);
    let id = '';
    try {
      await h.control('PUT', '/faults', { ack_delay_ms: 2500 });
      id = (await r.core.submit('rec', { idempotencyKey: `ae-stop-${n++}`, from: 'alice', to: ADA, text: 'ack delayed past the grace' })).messageId;
      await eventually(async () => (await inbox()).some((m) => m.id === id), 10_000, 'the hub got it');
      const lease = r.core.outbox.leaseKey('alice@birdy.interop', ADA);
      expect(await h.redis.get(lease)).not.toBeNull(); // held while the ack is awaited
      await r.core.close(200);
      expect(await h.redis.get(lease)).toBeNull(); // given up, not left to lapse (15 s)
    } finally {
      await h.control('DELETE', '/faults');
      await r.sessions.stop();
    }
    // The other replica takes the lane at once, resends the stored frame, gets the ack.
    await h.core.outbound.sweep();
    await sent(id);
    // Once per device (earlier tests of this file gave Ada more devices than her first two).
    const devices = (await inbox()).filter((m) => m.id === id).map((m) => m.device);
    expect(devices.length).toBeGreaterThanOrEqual(2);
    expect(new Set(devices).size).toBe(devices.length);
  });
});
