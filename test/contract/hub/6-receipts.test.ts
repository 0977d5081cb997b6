// HIP/1 conformance, spec 6 (receipts): delivery/read/played both ways with acks that identify
// the receipt exactly, receipt lists, stored receipts for offline users, and retry receipts in both
// directions (the simulated hub user resends with enc/@count; the hub exempts a provider's retry
// answer from the body and dhash checks).
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { buildStanza, encodeContent } from '../../../src/protocol/index.ts';
import type { AckStanza, ReceiptStanza } from '../../../src/protocol/index.ts';
import { createHubUser } from './support/hub-user.ts';
import { devAddr, dhashOfDevices, nowSeconds, sleep } from './support/names.ts';
import { ProviderUser } from './support/provider-user.ts';
import { useHub } from './support/suite.ts';

function receiptAck(u: ProviderUser, id: string): Promise<AckStanza> {
  return u.conn.next<AckStanza>((s) => s.kind === 'ack' && s.class === 'receipt' && s.id === id, 5000, `receipt ack ${id}`);
}

function nextReceipt(u: ProviderUser, pred: (r: ReceiptStanza) => boolean, timeoutMs = 5000): Promise<ReceiptStanza> {
  return u.conn.next<ReceiptStanza>((s) => s.kind === 'receipt' && pred(s), timeoutMs, 'a receipt');
}

describe('spec 6: receipts', () => {
  const hub = useHub();

  describe('client → hub (about hub users\' messages)', () => {
    it('delivery receipt: acked with id and to (no type), recorded for the hub user', async () => {
      const t = hub();
      const u = await ProviderUser.create(t);
      const h = await createHubUser(t);
      const { id } = await t.control.send(h.jid, { to: u.jid, text: 'deliver me' });
      await u.receive((m) => m.id === id);
      u.conn.send({ kind: 'receipt', id, to: h.jid, type: 'delivery', t: nowSeconds() });
      const ack = await receiptAck(u, id);
      expect(ack).toMatchObject({ kind: 'ack', class: 'receipt', id, to: h.jid });
      expect(ack.error).toBeUndefined();
      // Delivery is the absence of the type attribute on the wire (the codec reads it as 'delivery').
      expect(ack.type).toBe('delivery');
      const raw = u.conn.log.find((f) => f.stanza === ack)?.raw ?? '';
      expect(raw).toMatch(/^<ack /);
      expect(raw).not.toContain('type=');
      const got = await t.control.until(() => t.control.receipts(h.jid), (r) => r.some((x) => x.id === id), 5000, 'receipt at the hub user');
      expect(got.find((x) => x.id === id)).toMatchObject({ id, from: u.jid, type: 'delivery' });
    });

    it('read receipt for several ids (<list>): one ack echoing id, type and to; every id recorded', async () => {
      const t = hub();
      const u = await ProviderUser.create(t);
      const h = await createHubUser(t);
      const ids: string[] = [];
      for (const text of ['a', 'b', 'c']) ids.push((await t.control.send(h.jid, { to: u.jid, text })).id);
      for (const id of ids) await u.receive((m) => m.id === id);
      const [first, ...rest] = ids as [string, ...string[]];
      u.conn.send({ kind: 'receipt', id: first, to: h.jid, type: 'read', t: nowSeconds(), list: rest });
      expect(await receiptAck(u, first)).toMatchObject({ kind: 'ack', class: 'receipt', id: first, type: 'read', to: h.jid });
      const got = await t.control.until(() => t.control.receipts(h.jid), (r) => ids.every((id) => r.some((x) => x.id === id && x.type === 'read')), 5000, 'three read receipts');
      for (const id of ids) expect(got.find((x) => x.id === id && x.type === 'read')).toMatchObject({ from: u.jid });
    });

    it('played receipt', async () => {
      const t = hub();
      const u = await ProviderUser.create(t);
      const h = await createHubUser(t);
      const { id } = await t.control.send(h.jid, { to: u.jid, text: 'pretend voice' });
      await u.receive((m) => m.id === id);
      u.conn.send({ kind: 'receipt', id, to: h.jid, type: 'played' });
      const ack = await receiptAck(u, id);
      expect(ack).toMatchObject({ kind: 'ack', class: 'receipt', id, type: 'played', to: h.jid });
      expect(ack.error).toBeUndefined();
      await t.control.until(() => t.control.receipts(h.jid), (r) => r.some((x) => x.id === id && x.type === 'played'), 5000, 'played receipt');
    });
  });

  describe('hub → client (about the provider user\'s messages)', () => {
    it('the hub user\'s delivery and read receipts arrive with from and participant; the client acks each', async () => {
      const t = hub();
      const u = await ProviderUser.create(t);
      const h = await createHubUser(t, { script: { receipts: true, read: true } });
      const { msg } = await u.sendText(h.jid, 'please read');
      const delivery = await nextReceipt(u, (r) => r.id === msg.id && r.type === 'delivery');
      expect(delivery).toMatchObject({ kind: 'receipt', id: msg.id, from: h.jid, participant: devAddr(h.jid, 0), type: 'delivery' });
      expect(delivery.to).toBeUndefined();
      u.conn.send({ kind: 'ack', class: 'receipt', id: msg.id, from: h.jid, participant: devAddr(h.jid, 0) });
      const read = await nextReceipt(u, (r) => r.id === msg.id && r.type === 'read');
      expect(read).toMatchObject({ from: h.jid, participant: devAddr(h.jid, 0) });
      u.conn.send({ kind: 'ack', class: 'receipt', id: msg.id, type: 'read', from: h.jid, participant: devAddr(h.jid, 0) });
      // Acked receipts are not delivered again on the next session.
      await sleep(200);
      await u.close();
      await u.open();
      await u.conn.none((s) => s.kind === 'receipt' && s.id === msg.id, 800, 'an acked receipt again');
    });

    it('receipts sent through the control API, for several ids', async () => {
      const t = hub();
      const u = await ProviderUser.create(t);
      const h = await createHubUser(t);
      const m1 = (await u.sendText(h.jid, 'one')).msg;
      const m2 = (await u.sendText(h.jid, 'two')).msg;
      await t.control.sendReceipts(h.jid, { to: u.jid, ids: [m1.id, m2.id], type: 'read' });
      const seen = new Set<string>();
      while (!(seen.has(m1.id) && seen.has(m2.id))) {
        const r = await nextReceipt(u, (x) => x.type === 'read');
        expect(r.from).toBe(h.jid);
        // docs/mock-hub.md: control-API receipts name the user's lowest device.
        expect(r.participant).toBe(devAddr(h.jid, 0));
        seen.add(r.id);
        for (const id of r.list ?? []) seen.add(id);
        u.conn.send({ kind: 'ack', class: 'receipt', id: r.id, type: 'read', from: h.jid, ...(r.participant === undefined ? {} : { participant: r.participant }) });
      }
      expect([...seen].sort()).toEqual([m1.id, m2.id].sort());
    });

    it('a receipt for a user with no session is stored and delivered on open with the rest', async () => {
      const t = hub();
      const u = await ProviderUser.create(t);
      const h = await createHubUser(t);
      const { msg } = await u.sendText(h.jid, 'read it while I am away');
      await u.close();
      await t.control.sendReceipts(h.jid, { to: u.jid, ids: [msg.id], type: 'read' });
      await t.control.until(() => t.control.providerUser(u.jid), (v) => v.offline >= 1, 5000, 'a stored receipt');
      await u.open();
      const r = await nextReceipt(u, (x) => x.id === msg.id);
      expect(r).toMatchObject({ id: msg.id, from: h.jid, type: 'read' });
    });
  });

  describe('retry (6.2)', () => {
    it('a retry receipt from the client makes the hub user resend with enc/@count; the client can then decrypt', async () => {
      const t = hub();
      const u = await ProviderUser.create(t);
      const h = await createHubUser(t, { devices: [0, 1] });
      const { id } = await t.control.send(h.jid, { to: u.jid, text: 'try again', from_device: 1 });
      const original = await u.nextMessage((m) => m.id === id);
      // Pretend the ciphertext could not be decrypted: ack it (spec 5) and ask for a retry.
      u.ackMessage(original);
      u.conn.send({
        kind: 'receipt', id, to: h.jid, participant: original.participant, type: 'retry',
        retry: { count: 1, t: original.t }, registration: u.sim.registrationId,
      });
      const ack = await receiptAck(u, id);
      expect(ack).toMatchObject({ kind: 'ack', class: 'receipt', id, type: 'retry', to: h.jid, participant: devAddr(h.jid, 1) });
      expect(ack.error).toBeUndefined();
      const resent = await u.nextMessage((m) => m.id === id && m.enc.count !== undefined);
      expect(resent).toMatchObject({ id, from: h.jid, participant: devAddr(h.jid, 1) });
      expect(resent.enc.count).toBe(1);
      const plain = await u.sim.decrypt(resent.participant, { type: resent.enc.type, ciphertext: resent.enc.ciphertext });
      expect(plain.length).toBeGreaterThan(0);
      u.ackMessage(resent);
      const retries = await t.control.until(() => t.control.receipts(h.jid), (r) => r.some((x) => x.id === id && x.type === 'retry'), 5000, 'the retry receipt at the hub user');
      expect(retries.find((x) => x.id === id && x.type === 'retry')).toMatchObject({ from: u.jid });
    });

    it('from count 2 on, a bundle in <keys> is used without a fetch from the hub', async () => {
      const t = hub();
      const u = await ProviderUser.create(t);
      const h = await createHubUser(t);
      const { id } = await t.control.send(h.jid, { to: u.jid, text: 'second try' });
      const original = await u.nextMessage((m) => m.id === id);
      u.ackMessage(original);
      const before = (await t.control.providerUser(u.jid)).prekeys;
      u.sim.addPreKeys(1, 1);
      const keys = u.sim.takeBundle();
      u.conn.send({
        kind: 'receipt', id, to: h.jid, participant: original.participant, type: 'retry',
        retry: { count: 2, t: original.t }, registration: u.sim.registrationId, keys,
      });
      expect(await receiptAck(u, id)).toMatchObject({ class: 'receipt', id, type: 'retry', to: h.jid, participant: original.participant });
      const resent = await u.nextMessage((m) => m.id === id && m.enc.count !== undefined);
      expect(resent.enc.count).toBe(2);
      expect(resent.enc.type).toBe('pkmsg');
      const r = await u.sim.decrypt(resent.participant, { type: resent.enc.type, ciphertext: resent.enc.ciphertext });
      expect(r.length).toBeGreaterThan(0);
      u.ackMessage(resent);
      // The hub handed out none of the user's uploaded prekeys for this resend.
      expect((await t.control.providerUser(u.jid)).prekeys).toEqual(before);
    });

    it('a hub user who cannot decrypt sends a retry receipt; the provider\'s resend with enc/@count is exempt from body and dhash checks', async () => {
      const t = hub();
      const u = await ProviderUser.create(t);
      const h = await createHubUser(t, { devices: [0, 1] });
      const bad = await u.buildMessage(h.jid, { text: 'lost' }, { devices: [0, 1] });
      // Device 1 gets bytes nobody can decrypt.
      const p1 = bad.participants.find((p) => p.jid === devAddr(h.jid, 1));
      if (p1 === undefined) throw new Error('no participant for device 1');
      p1.enc = { v: 1, type: 'msg', ciphertext: randomBytes(90) };
      const first = await u.send(bad);
      expect(first.error).toBeUndefined();
      const retry = await nextReceipt(u, (r) => r.id === bad.id && r.type === 'retry', 8000);
      expect(retry).toMatchObject({ id: bad.id, from: h.jid, participant: devAddr(h.jid, 1), type: 'retry' });
      expect(retry.retry?.count).toBe(1);
      expect(retry.retry?.t).toBe(bad.t);
      expect(retry.registration).toBeTypeOf('number');
      u.conn.send({ kind: 'ack', class: 'receipt', id: bad.id, type: 'retry', from: h.jid, participant: devAddr(h.jid, 1) });
      // Re-encrypt the same plaintext for that device only, same id, count 1, no dhash.
      await u.sim.dropSession(devAddr(h.jid, 1));
      const again = await u.buildMessage(h.jid, { plaintext: encodeContent({ id: bad.id, t: bad.t ?? nowSeconds(), text: 'lost' }) }, { id: bad.id, devices: [1], dhash: null, count: 1 });
      const ack = await u.send(again);
      expect(ack).toMatchObject({ kind: 'ack', class: 'message', id: bad.id });
      expect(ack.error).toBeUndefined();
      const inbox = await t.control.until(
        () => t.control.inbox(h.jid),
        (m) => m.some((x) => x.device === 1 && x.decrypted && x.count === 1),
        5000, 'the resend decrypted on device 1',
      );
      expect(inbox.find((x) => x.device === 1 && x.decrypted)).toMatchObject({ id: bad.id, count: 1, content: { text: 'lost' } });
      expect(inbox.filter((x) => x.device === 0 && x.decrypted).length).toBe(1);
    });

    it('a resend with count above 5 is not exempt (400)', async () => {
      const t = hub();
      const u = await ProviderUser.create(t);
      const h = await createHubUser(t);
      const { msg } = await u.sendText(h.jid, 'original');
      const again = await u.buildMessage(h.jid, { text: 'original' }, { id: msg.id, dhash: dhashOfDevices(h.jid, [0]), count: 5 });
      u.conn.sendRaw(buildStanza(again).replace('count="5"', 'count="6"'));
      expect(await u.conn.ack(msg.id)).toMatchObject({ id: msg.id, error: 400 });
    });
  });
});
