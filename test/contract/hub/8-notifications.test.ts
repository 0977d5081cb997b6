// HIP/1 conformance, spec 8 (notifications, hub → client): encrypt (below 10 one-time prekeys, once
// until replenished), identity, devices, interop and providers; each is acked, and stays queued
// (redelivered on the next open) until it is.
import { describe, expect, it } from 'vitest';
import type { NotificationStanza } from '../../../src/protocol/index.ts';
import { createHubUser, type HubUser } from './support/hub-user.ts';
import { dhashOfDevices, freshId, sleep } from './support/names.ts';
import { ProviderUser } from './support/provider-user.ts';
import { useHub } from './support/suite.ts';
import { generateProvider } from './support/tokens.ts';

type N<T extends NotificationStanza['type']> = Extract<NotificationStanza, { type: T }>;

function nextNotification<T extends NotificationStanza['type']>(u: ProviderUser, type: T, pred: (n: N<T>) => boolean = () => true, timeoutMs = 5000): Promise<N<T>> {
  return u.conn.next<N<T>>((s) => s.kind === 'notification' && s.type === type && pred(s as N<T>), timeoutMs, `notification ${type}`);
}

function ackNotification(u: ProviderUser, id: string): void {
  u.conn.send({ kind: 'ack', class: 'notification', id });
}

/** Makes `h` a contact of `u` (spec 7.1: they exchanged a message). */
async function exchange(u: ProviderUser, h: HubUser): Promise<void> {
  const { id } = await u.t.control.send(h.jid, { to: u.jid, text: 'hi' });
  await u.receive((m) => m.id === id);
}

/** A hub user sends from `device`, which fetches one of `u`'s bundles on first contact. */
async function fetchVia(u: ProviderUser, h: HubUser, device: number): Promise<void> {
  const { id } = await u.t.control.send(h.jid, { to: u.jid, text: `from ${device}`, from_device: device });
  await u.receive((m) => m.id === id);
}

describe('spec 8: notifications', () => {
  const hub = useHub();

  it('encrypt: sent once when one-time EC prekeys fall below 10, queued until acked, re-armed by an upload', async () => {
    const t = hub();
    const u = await ProviderUser.create(t, { oneTimePreKeys: 11, oneTimeKyberPreKeys: 11 });
    const h1 = await createHubUser(t, { devices: [0, 1, 2, 3] });
    await fetchVia(u, h1, 0); // 10 left: not below 10
    await u.conn.none((s) => s.kind === 'notification' && s.type === 'encrypt', 300, 'encrypt notification at 10');
    await fetchVia(u, h1, 1); // 9 left
    const n = await nextNotification(u, 'encrypt');
    expect(n.count).toEqual({ value: 9, kyber: 9 });
    expect(n.id).toMatch(/^[A-Za-z0-9_-]{8,64}$/);
    await fetchVia(u, h1, 2); // 8 left: no second notification
    await fetchVia(u, h1, 3); // 7
    await u.conn.none((s) => s.kind === 'notification' && s.type === 'encrypt', 300, 'a second encrypt notification');
    // Not acked: redelivered on the next session.
    await u.close();
    await u.open();
    const again = await nextNotification(u, 'encrypt', (x) => x.id === n.id);
    expect(again.count).toEqual(n.count);
    ackNotification(u, n.id);
    await u.close();
    await u.open();
    await u.conn.none((s) => s.kind === 'notification' && s.id === n.id, 600, 'an acked notification again');
    // An upload back to 10 or more re-arms it.
    u.sim.addPreKeys(5, 0);
    const more = u.sim.uploadPayload();
    expect((await u.iq({ xmlns: 'encrypt', op: 'upload', preKeys: more.preKeys ?? [] })).type).toBe('result');
    const h2 = await createHubUser(t, { devices: [0, 1, 2, 3] });
    await fetchVia(u, h2, 0); // 11
    await fetchVia(u, h2, 1); // 10
    await u.conn.none((s) => s.kind === 'notification' && s.type === 'encrypt', 300, 'encrypt notification at 10');
    await fetchVia(u, h2, 2); // 9
    const rearmed = await nextNotification(u, 'encrypt');
    expect(rearmed.count.value).toBe(9);
    expect(rearmed.id).not.toBe(n.id);
    ackNotification(u, rearmed.id);
  });

  it('identity: after a contact\'s identity reset; the next message from it still decrypts', async () => {
    const t = hub();
    const u = await ProviderUser.create(t);
    const h = await createHubUser(t);
    await exchange(u, h);
    const before = (await t.control.getUser(h.jid)).devices[0]?.identity;
    await t.control.resetIdentity(h.jid);
    const n = await nextNotification(u, 'identity');
    expect(n).toMatchObject({ kind: 'notification', type: 'identity', from: h.jid });
    ackNotification(u, n.id);
    expect((await t.control.getUser(h.jid)).devices[0]?.identity).not.toBe(before);
    const { id } = await t.control.send(h.jid, { to: u.jid, text: 'new phone, who dis' });
    const r = await u.receive((m) => m.id === id);
    expect(r.stanza.enc.type).toBe('pkmsg');
    expect(r.content.text).toBe('new phone, who dis');
  });

  it('identity: not sent to provider users who are not contacts', async () => {
    const t = hub();
    const stranger = await ProviderUser.create(t);
    const h = await createHubUser(t);
    await t.control.resetIdentity(h.jid);
    await stranger.conn.none((s) => s.kind === 'notification' && s.type === 'identity', 500, 'identity notification to a non-contact');
  });

  it('devices: after a contact adds or removes a device, with the new dhash', async () => {
    const t = hub();
    const u = await ProviderUser.create(t);
    const h = await createHubUser(t, { devices: [0] });
    await exchange(u, h);
    const added = await t.control.addDevice(h.jid, 5);
    const n1 = await nextNotification(u, 'devices');
    expect(n1).toMatchObject({ type: 'devices', from: h.jid, dhash: dhashOfDevices(h.jid, [0, 5]) });
    expect(n1.dhash).toBe(added.dhash);
    ackNotification(u, n1.id);
    await t.control.removeDevice(h.jid, 5);
    const n2 = await nextNotification(u, 'devices', (x) => x.id !== n1.id);
    expect(n2).toMatchObject({ from: h.jid, dhash: dhashOfDevices(h.jid, [0]) });
    ackNotification(u, n2.id);
  });

  it('devices: stored for a contact with no session and delivered on open', async () => {
    const t = hub();
    const u = await ProviderUser.create(t);
    const h = await createHubUser(t, { devices: [0] });
    await exchange(u, h);
    await u.close();
    await t.control.addDevice(h.jid, 2);
    await u.open();
    const n = await nextNotification(u, 'devices');
    expect(n).toMatchObject({ from: h.jid, dhash: dhashOfDevices(h.jid, [0, 2]) });
    ackNotification(u, n.id);
  });

  it('interop: a contact turning third-party chats off and on (and off for this provider only)', async () => {
    const t = hub();
    const u = await ProviderUser.create(t);
    const h = await createHubUser(t);
    await exchange(u, h);
    await t.control.setThirdParty(h.jid, { enabled: false });
    const off = await nextNotification(u, 'interop');
    expect(off).toMatchObject({ type: 'interop', from: h.jid, state: 'disabled' });
    ackNotification(u, off.id);
    await t.control.setThirdParty(h.jid, { enabled: true, providers: ['*'] });
    const on = await nextNotification(u, 'interop', (x) => x.id !== off.id);
    expect(on).toMatchObject({ from: h.jid, state: 'enabled' });
    ackNotification(u, on.id);
    await t.control.setThirdParty(h.jid, { enabled: true, providers: [t.haiket.id] });
    const notForUs = await nextNotification(u, 'interop', (x) => x.id !== off.id && x.id !== on.id);
    expect(notForUs).toMatchObject({ from: h.jid, state: 'disabled' });
    ackNotification(u, notForUs.id);
  });

  it('an unacked notification stays queued: redelivered with the same id on the next session until acked', async () => {
    const t = hub();
    const u = await ProviderUser.create(t);
    const h = await createHubUser(t);
    await exchange(u, h);
    await t.control.setThirdParty(h.jid, { enabled: false });
    const n = await nextNotification(u, 'interop');
    await u.close();
    await u.open();
    const again = await nextNotification(u, 'interop', (x) => x.id === n.id);
    expect(again).toEqual(n);
    await u.close();
    await u.open();
    const third = await nextNotification(u, 'interop', (x) => x.id === n.id);
    ackNotification(u, third.id);
    await sleep(200);
    await u.close();
    await u.open();
    await u.conn.none((s) => s.kind === 'notification' && s.id === n.id, 600, 'an acked notification again');
  });

  it('providers: open sessions hear about a newly enrolled provider', async () => {
    const t = hub();
    const u = await ProviderUser.create(t);
    const id = `new-${freshId().toLowerCase().replace(/[^a-z0-9]/g, '').slice(-10)}`;
    const p = await generateProvider(id, 'Newcomer Chat');
    await t.control.enrolProvider({ id, name: p.name, jwks: { keys: [{ ...p.publicJwk }] } });
    const n = await nextNotification(u, 'providers');
    expect(n.providers).toContainEqual({ id, name: 'Newcomer Chat' });
    ackNotification(u, n.id);
    await t.control.delistProvider(id);
  });
});
