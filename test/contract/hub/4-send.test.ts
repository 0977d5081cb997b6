// HIP/1 conformance, spec 4 (sending a message, client → hub): server acks with t, every error of
// the ack table that a hub can be driven into (403 ×3, 404, 406, 409, 400 id-reused, 429/500/503),
// dhash rules, and idempotence by (sender, id).
import { createHash, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { MEDIA_KINDS, UNSUPPORTED_FEATURES, buildStanza } from '../../../src/protocol/index.ts';
import type { AckStanza, OutgoingMessage } from '../../../src/protocol/index.ts';
import { createHubUser } from './support/hub-user.ts';
import { devAddr, dhashOfDevices, freshId, freshPhone, hubJid, nowSeconds, sleep } from './support/names.ts';
import { ProviderUser } from './support/provider-user.ts';
import { useHub } from './support/suite.ts';

/** A message with made-up ciphertext, for recipients nobody can encrypt to. */
function opaqueMessage(to: string, devices: number[], dhash = '2:AAAAAAAA'): OutgoingMessage {
  return {
    kind: 'message', id: freshId(), to, type: 'text', t: nowSeconds(), dhash,
    participants: devices.map((d) => ({ jid: devAddr(to, d), enc: { v: 1, type: 'msg', ciphertext: randomBytes(80) } })),
  };
}

/** The ack without its id, to compare answers given to different messages. */
function shape(a: AckStanza): Omit<AckStanza, 'id'> {
  const { id: _id, ...rest } = a;
  return rest;
}

/** Waits until the hub has had time to deliver, then returns the inbox. */
async function settledInbox(u: { t: ProviderUser['t'] }, jid: string, ms = 400): Promise<Awaited<ReturnType<ProviderUser['t']['control']['inbox']>>> {
  await sleep(ms);
  return u.t.control.inbox(jid);
}

describe('spec 4: sending a message', () => {
  // 'video' is announced as unsupported so that a refused mediatype can be exercised.
  const hub = useHub({ unsupported: [...UNSUPPORTED_FEATURES, 'video'] });

  it('accepts a message encrypted for every device: ack with t, delivered to each device', async () => {
    const t = hub();
    const u = await ProviderUser.create(t);
    const h = await createHubUser(t, { devices: [0, 3] });
    const msg = await u.buildMessage(h.jid, { text: 'Hello from BirdyChat' });
    expect(msg.participants.map((p) => p.jid).sort()).toEqual([devAddr(h.jid, 0), devAddr(h.jid, 3)]);
    const ack = await u.send(msg);
    expect(ack).toEqual({ kind: 'ack', class: 'message', id: msg.id, t: ack.t });
    expect(Math.abs((ack.t ?? 0) - nowSeconds())).toBeLessThanOrEqual(5);
    const inbox = await t.control.until(() => t.control.inbox(h.jid), (m) => m.length >= 2, 5000, 'two deliveries');
    expect(inbox.map((m) => m.device).sort()).toEqual([0, 3]);
    for (const m of inbox) {
      expect(m).toMatchObject({ id: msg.id, from: u.jid, participant: u.device, decrypted: true, content: { text: 'Hello from BirdyChat' } });
    }
    expect((await settledInbox(u, h.jid)).length).toBe(2);
  });

  it('dhash: the devices iq and the accepted dhash follow code-point order (…:10@hub before …:3@hub)', async () => {
    const t = hub();
    const u = await ProviderUser.create(t);
    const h = await createHubUser(t, { devices: [0, 3, 10] });
    const list = await u.devicesOf(h.jid);
    expect(list.jid).toBe(h.jid);
    expect([...list.devices].sort((a, b) => a - b)).toEqual([0, 3, 10]);
    const codePoint = dhashOfDevices(h.jid, [0, 3, 10]);
    expect(list.dhash).toBe(codePoint);
    // Numeric order gives another hash, which the hub must refuse.
    const numericJoin = `2:${createHash('sha256').update([0, 3, 10].map((d) => devAddr(h.jid, d)).join(',')).digest().subarray(0, 6).toString('base64')}`;
    expect(numericJoin).not.toBe(codePoint);
    const wrong = await u.buildMessage(h.jid, { text: 'numeric order' }, { dhash: numericJoin });
    expect(await u.send(wrong)).toMatchObject({ error: 409, reason: 'stale-devices' });
    const right = await u.buildMessage(h.jid, { text: 'code-point order' }, { id: wrong.id });
    expect((await u.send(right)).error).toBeUndefined();
  });

  it('403 not-enlisted when the sender has not enlisted', async () => {
    const t = hub();
    const u = await ProviderUser.create(t, { enlist: false });
    const h = await createHubUser(t);
    const msg = await u.buildMessage(h.jid, { text: 'too early' });
    expect(await u.send(msg)).toEqual({ kind: 'ack', class: 'message', id: msg.id, error: 403, reason: 'not-enlisted' });
    expect(await settledInbox(u, h.jid)).toEqual([]);
  });

  it('403 not-opted-in, one identical answer for an unknown number, an opted-out user and a user opted in for another provider', async () => {
    const t = hub();
    const u = await ProviderUser.create(t);
    const unknown = hubJid(freshPhone());
    const optedOut = await createHubUser(t, { thirdParty: { enabled: false, providers: ['*'] } });
    const otherProvider = await createHubUser(t, { thirdParty: { enabled: true, providers: [t.haiket.id] } });
    const acks: AckStanza[] = [];
    for (const to of [unknown, optedOut.jid, otherProvider.jid]) {
      const msg = opaqueMessage(to, [0]);
      const ack = await u.send(msg);
      expect(ack).toEqual({ kind: 'ack', class: 'message', id: msg.id, error: 403, reason: 'not-opted-in' });
      acks.push(ack);
    }
    expect(shape(acks[1] as AckStanza)).toEqual(shape(acks[0] as AckStanza));
    expect(shape(acks[2] as AckStanza)).toEqual(shape(acks[0] as AckStanza));
    // Even with the right device list and dhash, the opted-out user is not revealed.
    const exact = opaqueMessage(optedOut.jid, optedOut.devices, dhashOfDevices(optedOut.jid, optedOut.devices));
    expect(shape(await u.send(exact))).toEqual(shape(acks[0] as AckStanza));
    expect(await settledInbox(u, optedOut.jid)).toEqual([]);
    expect(await t.control.inbox(otherProvider.jid)).toEqual([]);
  });

  it('a hub user is never answered 404 (an unknown number gets 403 not-opted-in, even without dhash)', async () => {
    const u = await ProviderUser.create(hub());
    const msg = opaqueMessage(hubJid(freshPhone()), [0, 1]);
    delete msg.dhash;
    expect(await u.send(msg)).toMatchObject({ error: 403, reason: 'not-opted-in' });
  });

  it('403 blocked when the recipient blocked the sender, or the sender\'s whole provider', async () => {
    const t = hub();
    const u = await ProviderUser.create(t);
    const h = await createHubUser(t);
    await t.control.block(h.jid, { user: u.jid });
    const m1 = await u.buildMessage(h.jid, { text: 'blocked?' });
    expect(await u.send(m1)).toEqual({ kind: 'ack', class: 'message', id: m1.id, error: 403, reason: 'blocked' });
    await t.control.unblock(h.jid, { user: u.jid });
    await t.control.block(h.jid, { provider: t.birdy.id });
    const m2 = await u.buildMessage(h.jid, { text: 'provider blocked?' });
    expect(await u.send(m2)).toMatchObject({ error: 403, reason: 'blocked' });
    expect(await settledInbox(u, h.jid)).toEqual([]);
    await t.control.unblock(h.jid, { provider: t.birdy.id });
    const m3 = await u.buildMessage(h.jid, { text: 'unblocked' });
    expect((await u.send(m3)).error).toBeUndefined();
  });

  describe('404 no-such-user: a provider-user recipient that is unknown or delisted', () => {
    it('unknown provider user', async () => {
      const u = await ProviderUser.create(hub());
      const msg = opaqueMessage(`nobody-${freshId().toLowerCase()}@birdy.interop`, [1]);
      expect(await u.send(msg)).toEqual({ kind: 'ack', class: 'message', id: msg.id, error: 404, reason: 'no-such-user' });
    });

    it('a provider user who delisted itself', async () => {
      const t = hub();
      const u = await ProviderUser.create(t);
      const gone = await ProviderUser.create(t);
      await gone.iqOk({ xmlns: 'interop', op: 'delist' });
      const msg = opaqueMessage(gone.jid, [1]);
      expect(await u.send(msg)).toMatchObject({ error: 404, reason: 'no-such-user' });
    });

    it('an enlisted provider user is not a message recipient: 403 not-opted-in (provider-to-provider is not routed, docs/mock-hub.md)', async () => {
      const t = hub();
      const u = await ProviderUser.create(t);
      const peer = await ProviderUser.create(t);
      const msg = opaqueMessage(peer.jid, [1]);
      expect(await u.send(msg)).toEqual({ kind: 'ack', class: 'message', id: msg.id, error: 403, reason: 'not-opted-in' });
      await peer.conn.none((s) => s.kind === 'message', 300, 'a provider-to-provider delivery');
    });
  });

  describe('406 unsupported-in-interop', () => {
    for (const feature of ['sticker', 'reaction'] as const) {
      it(`a declared feature kind: type="${feature}"`, async () => {
        const t = hub();
        const u = await ProviderUser.create(t);
        const h = await createHubUser(t);
        const msg = await u.buildMessage(h.jid, { text: feature }, { type: feature });
        const ack = await u.send(msg);
        expect(ack).toEqual({ kind: 'ack', class: 'message', id: msg.id, error: 406, reason: 'unsupported-in-interop', unsupported: feature });
        expect(await settledInbox(u, h.jid)).toEqual([]);
      });
    }

    it('a mediatype the hub lists as unsupported (video on the embedded hub)', async (ctx) => {
      const t = hub();
      const u = await ProviderUser.create(t);
      const h = await createHubUser(t);
      const features = await u.iqOk({ xmlns: 'features', op: 'features' });
      if (features.op !== 'features') throw new Error(`features answered ${features.op}`);
      const kind = MEDIA_KINDS.find((k) => features.unsupported.includes(k));
      // An external hub that carries every media kind has nothing to refuse here.
      if (kind === undefined && !t.embedded) return ctx.skip();
      expect(kind).toBe('video');
      const msg = await u.buildMessage(h.jid, { text: 'pretend video' }, { mediatype: kind ?? 'video' });
      expect(msg.type).toBe('media');
      expect(await u.send(msg)).toMatchObject({ error: 406, reason: 'unsupported-in-interop', unsupported: kind });
      expect(await settledInbox(u, h.jid)).toEqual([]);
    });
  });

  it('400 bad-request for type="media" without mediatype', async () => {
    const t = hub();
    const u = await ProviderUser.create(t);
    const h = await createHubUser(t);
    const msg = await u.buildMessage(h.jid, { text: 'media without kind' }, { mediatype: 'image' });
    const frame = buildStanza(msg).replace(/ mediatype="image"/g, '');
    expect(frame).not.toContain('mediatype');
    u.conn.sendRaw(frame);
    expect(await u.conn.ack(msg.id)).toMatchObject({ error: 400, reason: 'bad-request' });
    expect(await settledInbox(u, h.jid)).toEqual([]);
  });

  describe('409 stale-devices: answers with the current <devices>, delivers nothing, leaves the id unused', () => {
    it('dhash missing', async () => {
      const t = hub();
      const u = await ProviderUser.create(t);
      const h = await createHubUser(t, { devices: [0, 2] });
      const msg = await u.buildMessage(h.jid, { text: 'no dhash' }, { dhash: null });
      const ack = await u.send(msg);
      expect(ack).toEqual({
        kind: 'ack', class: 'message', id: msg.id, error: 409, reason: 'stale-devices',
        devices: { jid: h.jid, dhash: dhashOfDevices(h.jid, [0, 2]), devices: [0, 2] },
      });
      expect(await settledInbox(u, h.jid)).toEqual([]);
    });

    it('dhash wrong', async () => {
      const t = hub();
      const u = await ProviderUser.create(t);
      const h = await createHubUser(t, { devices: [0] });
      const msg = await u.buildMessage(h.jid, { text: 'bad dhash' }, { dhash: dhashOfDevices(h.jid, [0, 1]) });
      expect(await u.send(msg)).toMatchObject({ error: 409, reason: 'stale-devices', devices: { jid: h.jid, devices: [0] } });
      expect(await settledInbox(u, h.jid)).toEqual([]);
    });

    it('participants miss a current device (dhash right)', async () => {
      const t = hub();
      const u = await ProviderUser.create(t);
      const h = await createHubUser(t, { devices: [0, 1] });
      const msg = await u.buildMessage(h.jid, { text: 'one short' }, { devices: [0], dhash: dhashOfDevices(h.jid, [0, 1]) });
      expect(await u.send(msg)).toMatchObject({ error: 409, reason: 'stale-devices', devices: { devices: [0, 1] } });
      expect(await settledInbox(u, h.jid)).toEqual([]);
    });

    it('participants include a device that does not exist (dhash right)', async () => {
      const t = hub();
      const u = await ProviderUser.create(t);
      const h = await createHubUser(t, { devices: [0] });
      const base = await u.buildMessage(h.jid, { text: 'one extra' });
      base.participants.push({ jid: devAddr(h.jid, 5), enc: { v: 1, type: 'msg', ciphertext: randomBytes(64) } });
      expect(await u.send(base)).toMatchObject({ error: 409, reason: 'stale-devices', devices: { devices: [0] } });
      expect(await settledInbox(u, h.jid)).toEqual([]);
    });

    it('a device added after the sender read the list; re-encrypting for the new list under the same id is accepted once', async () => {
      const t = hub();
      const u = await ProviderUser.create(t);
      const h = await createHubUser(t, { devices: [0] });
      const stale = await u.buildMessage(h.jid, { text: 'hello again' });
      const added = await t.control.addDevice(h.jid, 4);
      expect(added).toEqual({ device: 4, dhash: dhashOfDevices(h.jid, [0, 4]) });
      const ack = await u.send(stale);
      expect(ack).toMatchObject({ id: stale.id, error: 409, reason: 'stale-devices', devices: { jid: h.jid, dhash: added.dhash, devices: [0, 4] } });
      expect(await settledInbox(u, h.jid)).toEqual([]);
      const fresh = await u.buildMessage(h.jid, { text: 'hello again' }, { id: stale.id, devices: ack.devices?.devices ?? [] });
      const ok = await u.send(fresh);
      expect(ok).toEqual({ kind: 'ack', class: 'message', id: stale.id, t: ok.t });
      const inbox = await t.control.until(() => t.control.inbox(h.jid), (m) => m.length >= 2, 5000, 'two deliveries');
      expect(inbox.map((m) => m.device).sort()).toEqual([0, 4]);
      expect((await settledInbox(u, h.jid)).length).toBe(2);
    });
  });
});
