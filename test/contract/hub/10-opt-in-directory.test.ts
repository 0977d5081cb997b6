// HIP/1 conformance, spec 10 (opt-in, discovery, enlistment): directory lookup (one 404 for unknown
// and unreachable numbers), enlist/delist/status, what hub users and other senders see for a
// delisted provider user, and a self-delisted user reopening and enlisting again.
import { describe, expect, it } from 'vitest';
import type { IqError } from '../../../src/protocol/index.ts';
import { createHubUser } from './support/hub-user.ts';
import { devAddr, freshPhone } from './support/names.ts';
import { ProviderUser } from './support/provider-user.ts';
import { useHub } from './support/suite.ts';

async function status(u: ProviderUser): Promise<boolean> {
  const r = await u.iqOk({ xmlns: 'interop', op: 'status' });
  if (r.op !== 'status') throw new Error(`status answered ${r.op}`);
  return r.enlisted;
}

describe('spec 10: opt-in, discovery and enlistment', () => {
  const hub = useHub();

  describe('directory lookup', () => {
    it('finds an opted-in user by phone number, with the display name', async () => {
      const t = hub();
      const u = await ProviderUser.create(t);
      const h = await createHubUser(t, { name: 'Ada Lovelace' });
      const r = await u.iqOk({ xmlns: 'directory', op: 'lookup', phone: h.phone });
      expect(r).toEqual({ op: 'lookup', jid: h.jid, name: 'Ada Lovelace' });
    });

    it('answers one identical 404 for an unknown number, an opted-out user and a user of another provider', async () => {
      const t = hub();
      const u = await ProviderUser.create(t);
      const optedOut = await createHubUser(t, { thirdParty: { enabled: false, providers: ['*'] }, name: 'Hidden' });
      const other = await createHubUser(t, { thirdParty: { enabled: true, providers: [t.haiket.id] }, name: 'Elsewhere' });
      const errors = [];
      for (const phone of [freshPhone(), optedOut.phone, other.phone]) {
        const a = await u.iq({ xmlns: 'directory', op: 'lookup', phone });
        expect(a.type).toBe('error');
        errors.push((a as IqError).error);
      }
      expect(errors[0]?.code).toBe(404);
      expect(errors[1]).toEqual(errors[0]);
      expect(errors[2]).toEqual(errors[0]);
    });

    it('finds a user opted in for this provider by name in the accepted list', async () => {
      const t = hub();
      const u = await ProviderUser.create(t);
      const h = await createHubUser(t, { thirdParty: { enabled: true, providers: [t.birdy.id] } });
      expect(await u.iqOk({ xmlns: 'directory', op: 'lookup', phone: h.phone })).toMatchObject({ op: 'lookup', jid: h.jid });
    });
  });

  describe('enlist, delist, status', () => {
    it('status follows enlist and delist', async () => {
      const u = await ProviderUser.create(hub(), { enlist: false });
      expect(await status(u)).toBe(false);
      await u.enlist();
      expect(await status(u)).toBe(true);
      expect((await u.iq({ xmlns: 'interop', op: 'delist' })).type).toBe('result');
      expect(await status(u)).toBe(false);
    });

    it('the hub records enlistment (control view)', async () => {
      const t = hub();
      const u = await ProviderUser.create(t, { enlist: false });
      expect((await t.control.providerUser(u.jid)).enlisted).toBe(false);
      await u.enlist();
      const view = await t.control.providerUser(u.jid);
      expect(view).toMatchObject({ jid: u.jid, enlisted: true, has_keys: true, session_open: true });
    });

    it('enlisting before keys are uploaded is refused', async () => {
      const u = await ProviderUser.create(hub(), { upload: false });
      const a = await u.iq({ xmlns: 'interop', op: 'enlist' });
      expect(a).toMatchObject({ type: 'error', error: { code: 400 } });
      expect(await status(u)).toBe(false);
    });

    it('delist removes the user\'s keys and stored stanzas; hub users then get 404 for it', async () => {
      const t = hub();
      const u = await ProviderUser.create(t);
      const h = await createHubUser(t);
      await u.close();
      await t.control.send(h.jid, { to: u.jid, text: 'stored, then dropped' });
      await t.control.until(() => t.control.providerUser(u.jid), (v) => v.offline === 1, 5000, 'one stored message');
      await u.open();
      // Take the stored message off the wire without acking it, then delist.
      await u.nextMessage();
      expect((await u.iq({ xmlns: 'interop', op: 'delist' })).type).toBe('result');
      const view = await t.control.providerUser(u.jid);
      expect(view).toMatchObject({ enlisted: false, has_keys: false, prekeys: { ec: 0, kyber: 0 }, offline: 0 });
      const count = await u.iqOk({ xmlns: 'encrypt', op: 'count' });
      expect(count).toEqual({ op: 'count', value: 0, kyber: 0 });
      const r = await t.control.call<{ error?: string }>('POST', `/control/users/${h.jid}/send`, { to: u.jid, text: 'anyone there?' });
      expect(r.status).toBe(404);
      // Nothing comes back on a new session either.
      await u.close();
      await u.open();
      await u.conn.none((s) => s.kind === 'message', 600, 'a stored message after delist');
    });

    it('a delisted user is refused as a sender with 403 not-enlisted', async () => {
      const t = hub();
      const u = await ProviderUser.create(t);
      const h = await createHubUser(t);
      const msg = await u.buildMessage(h.jid, { text: 'still here' });
      expect((await u.iq({ xmlns: 'interop', op: 'delist' })).type).toBe('result');
      expect(await u.send(msg)).toMatchObject({ error: 403, reason: 'not-enlisted' });
    });

    it('a user who delisted itself can open a new session, upload keys and enlist again, and is reachable', async () => {
      const t = hub();
      const u = await ProviderUser.create(t);
      expect((await u.iq({ xmlns: 'interop', op: 'delist' })).type).toBe('result');
      await u.close();
      const opened = await u.open();
      expect(opened.kind).toBe('opened');
      await u.sim.resetIdentity();
      await u.uploadKeys();
      await u.enlist();
      expect(await status(u)).toBe(true);
      const h = await createHubUser(t);
      const { id } = await t.control.send(h.jid, { to: u.jid, text: 'welcome back' });
      const r = await u.receive((m) => m.id === id);
      expect(r.content.text).toBe('welcome back');
      expect(r.stanza.participant).toBe(devAddr(h.jid, 0));
    });
  });
});
