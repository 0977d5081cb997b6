// HIP/1 conformance, spec 7 (keys and devices): upload rules (complete first upload, signature
// checks, adding and resetting prekeys, count), bundle fetch (one-time keys handed out once,
// last-resort Kyber when exhausted, per-user errors), and the devices iq.
import { describe, expect, it } from 'vitest';
import { PreKeySignalMessage } from '@signalapp/libsignal-client';
import { buildStanza } from '../../../src/protocol/index.ts';
import type { IqError, IqQuery, IqResult } from '../../../src/protocol/index.ts';
import { SimDevice } from '../../../src/mock-hub/sim-device.ts';
import { createHubUser } from './support/hub-user.ts';
import { devAddr, dhashOfDevices, freshPhone, hubJid } from './support/names.ts';
import { ProviderUser } from './support/provider-user.ts';
import { useHub } from './support/suite.ts';

type Upload = Extract<IqQuery, { op: 'upload' }>;

function flip(b: Uint8Array): Uint8Array {
  const c = new Uint8Array(b);
  c[c.length - 1] = (c[c.length - 1] ?? 0) ^ 0x01;
  return c;
}

function expect400(a: IqResult | IqError): void {
  expect(a.type).toBe('error');
  expect((a as IqError).error.code).toBe(400);
}

async function count(u: ProviderUser): Promise<{ value: number; kyber: number }> {
  const r = await u.iqOk({ xmlns: 'encrypt', op: 'count' });
  if (r.op !== 'count') throw new Error(`count answered ${r.op}`);
  return { value: r.value, kyber: r.kyber };
}

describe('spec 7: keys and devices', () => {
  const hub = useHub();

  describe('7.1 upload', () => {
    for (const missing of ['registration', 'identity', 'skey', 'kyber'] as const) {
      it(`a first upload without ${missing} is refused with 400`, async () => {
        const u = await ProviderUser.create(hub(), { upload: false });
        const full: Upload = u.sim.uploadPayload();
        const partial: Upload = { ...full };
        delete partial[missing];
        expect400(await u.iq(partial));
        expect((await t0(u)).value).toBe(0);
      });
    }

    it('a first upload with only one-time prekeys is refused with 400', async () => {
      const u = await ProviderUser.create(hub(), { upload: false });
      const full = u.sim.uploadPayload();
      const only: Upload = { xmlns: 'encrypt', op: 'upload' };
      if (full.preKeys !== undefined) only.preKeys = full.preKeys;
      expect400(await u.iq(only));
    });

    for (const which of ['skey', 'kyber', 'one-time kyber'] as const) {
      it(`a wrong ${which} signature is refused with 400`, async () => {
        const u = await ProviderUser.create(hub(), { upload: false });
        const p = u.sim.uploadPayload();
        if (which === 'skey' && p.skey !== undefined) p.skey = { ...p.skey, signature: flip(p.skey.signature) };
        if (which === 'kyber' && p.kyber !== undefined) p.kyber = { ...p.kyber, signature: flip(p.kyber.signature) };
        if (which === 'one-time kyber') {
          const [k, ...rest] = p.kyberPreKeys ?? [];
          if (k === undefined) throw new Error('no one-time kyber prekeys');
          p.kyberPreKeys = [{ ...k, signature: flip(k.signature) }, ...rest];
        }
        expect400(await u.iq(p));
      });
    }

    it('a signature by another identity key is refused with 400', async () => {
      const u = await ProviderUser.create(hub(), { upload: false });
      const other = await SimDevice.create('other:1@birdy.interop', { oneTimePreKeys: 0, oneTimeKyberPreKeys: 0 });
      const p = u.sim.uploadPayload();
      const o = other.uploadPayload();
      if (o.skey === undefined) throw new Error('no skey');
      p.skey = o.skey;
      expect400(await u.iq(p));
    });

    it('a prekey id of 2^24 or more is refused with 400', async () => {
      const u = await ProviderUser.create(hub(), { upload: false, oneTimePreKeys: 2, oneTimeKyberPreKeys: 0 });
      const p = u.sim.uploadPayload();
      const first = p.preKeys?.[0];
      if (first === undefined) throw new Error('no prekeys');
      const frame = buildStanza({ kind: 'iq', id: 'bigkeyid01', type: 'set', query: p });
      const bad = frame.replace(`<key><id>${first.id}</id>`, '<key><id>16777216</id>');
      expect(bad).not.toBe(frame);
      u.conn.sendRaw(bad);
      const answer = await u.conn.next((s) => (s.kind === 'iq' || s.kind === 'ack') && s.id === 'bigkeyid01');
      // Either an iq error or (when the codec refuses the value) an ack 400 for the iq.
      if (answer.kind === 'iq') expect(answer).toMatchObject({ type: 'error', error: { code: 400 } });
      else expect(answer).toMatchObject({ class: 'iq', error: 400 });
      expect(await t0(u)).toEqual({ value: 0, kyber: 0 });
    });

    it('a complete upload is accepted and counted; later uploads with only lists add prekeys', async () => {
      const u = await ProviderUser.create(hub(), { upload: false, oneTimePreKeys: 12, oneTimeKyberPreKeys: 4 });
      const r = await u.iq(u.sim.uploadPayload());
      expect(r).toEqual({ kind: 'iq', id: r.id, type: 'result', result: { op: 'empty' } });
      expect(await count(u)).toEqual({ value: 12, kyber: 4 });
      u.sim.addPreKeys(5, 2);
      const more = u.sim.uploadPayload();
      const lists: Upload = { xmlns: 'encrypt', op: 'upload', preKeys: more.preKeys ?? [], kyberPreKeys: more.kyberPreKeys ?? [] };
      expect(lists.preKeys).toHaveLength(5);
      expect((await u.iq(lists)).type).toBe('result');
      expect(await count(u)).toEqual({ value: 17, kyber: 6 });
    });

    it('an identity reset must be complete (400 otherwise), and drops the stored prekeys', async () => {
      const u = await ProviderUser.create(hub(), { oneTimePreKeys: 3, oneTimeKyberPreKeys: 2 });
      u.sim.addPreKeys(5, 0);
      const more = u.sim.uploadPayload();
      expect((await u.iq({ xmlns: 'encrypt', op: 'upload', preKeys: more.preKeys ?? [] })).type).toBe('result');
      expect(await count(u)).toEqual({ value: 8, kyber: 2 });
      await u.sim.resetIdentity();
      const reset = u.sim.uploadPayload();
      const noSkey: Upload = { ...reset };
      delete noSkey.skey;
      expect400(await u.iq(noSkey));
      expect((await u.iq(reset)).type).toBe('result');
      // Only the reset upload's one-time prekeys are left (3 EC from creation plus 5 added, regenerated as 3 + 2 by the reset).
      const after = await count(u);
      expect(after).toEqual({ value: reset.preKeys?.length ?? -1, kyber: reset.kyberPreKeys?.length ?? -1 });
    });
  });

  describe('7.2 fetch bundles', () => {
    it('returns a complete bundle per device that starts a working session', async () => {
      const t = hub();
      const u = await ProviderUser.create(t);
      const h = await createHubUser(t, { devices: [0, 3] });
      const view = await t.control.getUser(h.jid);
      const users = await u.fetchBundles([devAddr(h.jid, 0), devAddr(h.jid, 3)]);
      expect(users.map((x) => x.jid)).toEqual([devAddr(h.jid, 0), devAddr(h.jid, 3)]);
      for (const entry of users) {
        if (!('bundle' in entry)) throw new Error(`no bundle: ${JSON.stringify(entry)}`);
        const b = entry.bundle;
        expect(b.identity.length).toBe(33);
        expect(b.skey.value.length).toBe(33);
        expect(b.key?.value.length).toBe(33);
        expect(b.kyber.signature.length).toBeGreaterThan(0);
        expect(b.registration).toBeGreaterThan(0);
        const n = Number(/:(\d+)@/.exec(entry.jid)?.[1]);
        expect(Buffer.from(b.identity).toString('base64')).toBe(view.devices.find((d) => d.id === n)?.identity);
        await u.sim.startSession(entry.jid, b);
      }
      const { ack } = await u.sendText(h.jid, 'through fetched bundles');
      expect(ack.error).toBeUndefined();
      await t.control.until(() => t.control.inbox(h.jid), (m) => m.filter((x) => x.decrypted).length === 2, 5000, 'both devices decrypt');
    });

    it('hands out each one-time prekey once', async () => {
      const t = hub();
      const u = await ProviderUser.create(t);
      const h = await createHubUser(t);
      const ec = new Set<number>();
      const ky = new Set<number>();
      for (let i = 0; i < 5; i++) {
        const [entry] = await u.fetchBundles([devAddr(h.jid, 0)]);
        if (entry === undefined || !('bundle' in entry)) throw new Error('no bundle');
        const k = entry.bundle.key;
        if (k === undefined) throw new Error('the device ran out of one-time prekeys after 5 fetches');
        expect(ec.has(k.id)).toBe(false);
        ec.add(k.id);
        ky.add(entry.bundle.kyber.id);
      }
      expect(ec.size).toBe(5);
      expect(ky.size).toBe(5);
    });

    it('consumes the provider user\'s one-time prekeys once, then hands out the last-resort Kyber and no EC key', async () => {
      const t = hub();
      const u = await ProviderUser.create(t, { oneTimePreKeys: 2, oneTimeKyberPreKeys: 1 });
      const uploaded = await count(u);
      expect(uploaded).toEqual({ value: 2, kyber: 1 });
      const preKeyIds: Array<number | null> = [];
      for (let i = 0; i < 3; i++) {
        const h = await createHubUser(t);
        const { id } = await t.control.send(h.jid, { to: u.jid, text: `fetch ${i}` });
        const m = await u.nextMessage((x) => x.id === id);
        expect(m.enc.type).toBe('pkmsg');
        preKeyIds.push(PreKeySignalMessage.deserialize(new Uint8Array(m.enc.ciphertext)).preKeyId());
        const plain = await u.sim.decrypt(m.participant, { type: m.enc.type, ciphertext: m.enc.ciphertext });
        expect(plain.length).toBeGreaterThan(0);
        u.ackMessage(m);
        const c = await count(u);
        expect(c).toEqual({ value: Math.max(0, 1 - i), kyber: 0 });
      }
      expect(preKeyIds[0]).not.toBeNull();
      expect(preKeyIds[1]).not.toBeNull();
      expect(preKeyIds[0]).not.toBe(preKeyIds[1]);
      // Exhausted: no one-time EC prekey; the session still works with the last-resort Kyber prekey.
      expect(preKeyIds[2]).toBeNull();
    });

    it('answers per user: no-such-device for an unknown device, no-such-user (identically) for users that may not be messaged', async () => {
      const t = hub();
      const u = await ProviderUser.create(t);
      const h = await createHubUser(t, { devices: [0] });
      const optedOut = await createHubUser(t, { thirdParty: { enabled: false, providers: ['*'] } });
      const other = await createHubUser(t, { thirdParty: { enabled: true, providers: [t.haiket.id] } });
      const unknown = hubJid(freshPhone());
      const jids = [devAddr(h.jid, 0), devAddr(h.jid, 7), devAddr(unknown, 0), devAddr(optedOut.jid, 0), devAddr(other.jid, 0)];
      const users = await u.fetchBundles(jids);
      expect(users.map((x) => x.jid)).toEqual(jids);
      expect('bundle' in (users[0] as object)).toBe(true);
      expect(users[1]).toEqual({ jid: jids[1], error: { code: 404, reason: 'no-such-device' } });
      for (const i of [2, 3, 4]) expect(users[i]).toEqual({ jid: jids[i], error: { code: 404, reason: 'no-such-user' } });
    });

    it('refuses to hand out bundles of a user once they opt out', async () => {
      const t = hub();
      const u = await ProviderUser.create(t);
      const h = await createHubUser(t);
      const [before] = await u.fetchBundles([devAddr(h.jid, 0)]);
      expect(before !== undefined && 'bundle' in before).toBe(true);
      await t.control.setThirdParty(h.jid, { enabled: false });
      const [after] = await u.fetchBundles([devAddr(h.jid, 0)]);
      expect(after).toEqual({ jid: devAddr(h.jid, 0), error: { code: 404, reason: 'no-such-user' } });
    });
  });

  describe('7.3 devices', () => {
    it('lists the current devices with their dhash, and follows additions and removals', async () => {
      const t = hub();
      const u = await ProviderUser.create(t);
      const h = await createHubUser(t, { devices: [0, 3] });
      expect(await u.devicesOf(h.jid)).toEqual({ jid: h.jid, dhash: dhashOfDevices(h.jid, [0, 3]), devices: [0, 3] });
      await t.control.addDevice(h.jid, 10);
      expect(await u.devicesOf(h.jid)).toEqual({ jid: h.jid, dhash: dhashOfDevices(h.jid, [0, 3, 10]), devices: [0, 3, 10] });
      await t.control.removeDevice(h.jid, 3);
      expect(await u.devicesOf(h.jid)).toEqual({ jid: h.jid, dhash: dhashOfDevices(h.jid, [0, 10]), devices: [0, 10] });
    });

    it('answers an iq-level 404, identically, for unknown, opted-out and other-provider users', async () => {
      const t = hub();
      const u = await ProviderUser.create(t);
      const optedOut = await createHubUser(t, { thirdParty: { enabled: false, providers: ['*'] } });
      const other = await createHubUser(t, { thirdParty: { enabled: true, providers: [t.haiket.id] } });
      const errors = [];
      for (const jid of [hubJid(freshPhone()), optedOut.jid, other.jid]) {
        const a = await u.iq({ xmlns: 'devices', op: 'devices', jid });
        expect(a.type).toBe('error');
        errors.push((a as IqError).error);
      }
      expect(errors[0]?.code).toBe(404);
      expect(errors[1]).toEqual(errors[0]);
      expect(errors[2]).toEqual(errors[0]);
    });
  });
});

/** The count before any successful upload: nothing stored. */
async function t0(u: ProviderUser): Promise<{ value: number; kyber: number }> {
  const a = await u.iq({ xmlns: 'encrypt', op: 'count' });
  if (a.type === 'result' && a.result.op === 'count') return { value: a.result.value, kyber: a.result.kyber };
  return { value: 0, kyber: 0 };
}

