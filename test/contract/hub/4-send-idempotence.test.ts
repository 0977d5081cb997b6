// HIP/1 conformance, spec 4 (sending a message): idempotence by (sender, id) — the same stanza
// gets the same ack and t and is delivered once, a different body is 400 id-reused, a lost ack is
// answered by resending the stored stanza — and hub-side errors (429 with retry-after, 500, 503)
// injected through the faults API, after which the id is still usable.
import { describe, expect, it } from 'vitest';
import type { AckStanza } from '../../../src/protocol/index.ts';
import { createHubUser } from './support/hub-user.ts';
import { freshId, nowSeconds, sleep } from './support/names.ts';
import { ProviderUser } from './support/provider-user.ts';
import { useHub } from './support/suite.ts';

/** Waits until the hub has had time to deliver, then returns the inbox. */
async function settledInbox(u: ProviderUser, jid: string, ms = 400): Promise<Awaited<ReturnType<ProviderUser['t']['control']['inbox']>>> {
  await sleep(ms);
  return u.t.control.inbox(jid);
}

/** Waits until the next UNIX second starts (so that a fresh `t` would differ). */
async function nextSecond(): Promise<void> {
  await sleep(1000 - (Date.now() % 1000) + 50);
}

describe('spec 4: idempotence and hub-side errors', () => {
  const hub = useHub();

  describe('idempotence by (sender, id)', () => {
    it('the same stanza sent twice gets the same ack and t and is delivered once', async () => {
      const t = hub();
      const u = await ProviderUser.create(t);
      const h = await createHubUser(t, { devices: [0, 1] });
      const msg = await u.buildMessage(h.jid, { text: 'once only' });
      const first = await u.send(msg);
      expect(first.error).toBeUndefined();
      await nextSecond();
      const second = await u.send(msg);
      expect(second).toEqual(first);
      // t and dhash are not compared.
      await nextSecond();
      const third = await u.send({ ...msg, t: nowSeconds(), dhash: '2:ZZZZZZZZ' });
      expect(third).toEqual(first);
      const inbox = await settledInbox(u, h.jid, 600);
      expect(inbox.filter((m) => m.id === msg.id).length).toBe(2);
      expect(inbox.map((m) => m.device).sort()).toEqual([0, 1]);
    });

    it('a different body under an accepted id is 400 id-reused and is not delivered', async () => {
      const t = hub();
      const u = await ProviderUser.create(t);
      const h = await createHubUser(t);
      const msg = await u.buildMessage(h.jid, { text: 'original' });
      expect((await u.send(msg)).error).toBeUndefined();
      const other = await u.buildMessage(h.jid, { text: 'forged' }, { id: msg.id });
      expect(await u.send(other)).toEqual({ kind: 'ack', class: 'message', id: msg.id, error: 400, reason: 'id-reused' });
      const inbox = await settledInbox(u, h.jid);
      expect(inbox.length).toBe(1);
      expect(inbox[0]?.content?.text).toBe('original');
    });

    it('the same id to another recipient is 400 id-reused', async () => {
      const t = hub();
      const u = await ProviderUser.create(t);
      const h1 = await createHubUser(t);
      const h2 = await createHubUser(t);
      const msg = await u.buildMessage(h1.jid, { text: 'for h1' });
      expect((await u.send(msg)).error).toBeUndefined();
      const other = await u.buildMessage(h2.jid, { text: 'for h1' }, { id: msg.id });
      expect(await u.send(other)).toMatchObject({ error: 400, reason: 'id-reused' });
      expect(await settledInbox(u, h2.jid)).toEqual([]);
    });

    it('ids are per sender: another provider user may use the same id', async () => {
      const t = hub();
      const a = await ProviderUser.create(t);
      const b = await ProviderUser.create(t);
      const h = await createHubUser(t);
      const id = freshId();
      expect((await a.send(await a.buildMessage(h.jid, { text: 'from a' }, { id }))).error).toBeUndefined();
      expect((await b.send(await b.buildMessage(h.jid, { text: 'from b' }, { id }))).error).toBeUndefined();
      const inbox = await t.control.until(() => t.control.inbox(h.jid), (m) => m.length >= 2, 5000, 'both messages');
      expect(inbox.map((m) => m.from).sort()).toEqual([a.jid, b.jid].sort());
    });
  });

  it('a sender that lost the ack resends the stored stanza: same t, delivered once', async () => {
    const t = hub();
    const u = await ProviderUser.create(t);
    const h = await createHubUser(t);
    const msg = await u.buildMessage(h.jid, { text: 'ack lost' });
    await t.control.setFaults({ drop_acks_rate: 1 });
    const sentAt = nowSeconds();
    try {
      u.conn.send(msg);
      await u.conn.none((s) => s.kind === 'ack' && s.id === msg.id, 800, 'an ack while acks are dropped');
    } finally {
      await t.control.clearFaults();
    }
    await t.control.until(() => t.control.inbox(h.jid), (m) => m.length > 0, 5000, 'delivery of the first send');
    while (nowSeconds() < sentAt + 2) await sleep(100);
    const ack = await u.send(msg);
    expect(ack.error).toBeUndefined();
    // The t of the first acceptance, not a fresh one.
    expect(ack.t).toBeGreaterThanOrEqual(sentAt);
    expect(ack.t).toBeLessThanOrEqual(sentAt + 1);
    expect((await settledInbox(u, h.jid)).length).toBe(1);
  });

  describe('hub-side errors through the faults API (the id stays usable)', () => {
    for (const [code, reason] of [[429, 'rate-limited'], [500, 'internal-error'], [503, 'unavailable']] as const) {
      it(`${code} ${reason}`, async () => {
        const t = hub();
        const u = await ProviderUser.create(t);
        const h = await createHubUser(t);
        const msg = await u.buildMessage(h.jid, { text: `after ${code}` });
        await t.control.setFaults({ error: { rate: 1, code, ...(code === 429 ? { retry_after: 7 } : {}) } });
        let ack: AckStanza;
        try {
          ack = await u.send(msg);
        } finally {
          await t.control.clearFaults();
        }
        expect(ack).toEqual({ kind: 'ack', class: 'message', id: msg.id, error: code, reason, ...(code === 429 ? { retryAfter: 7 } : {}) });
        expect(await settledInbox(u, h.jid)).toEqual([]);
        const retried = await u.send(msg);
        expect(retried.error).toBeUndefined();
        expect(retried.t).toBeTypeOf('number');
        expect((await t.control.until(() => t.control.inbox(h.jid), (m) => m.length > 0, 5000, 'delivery')).length).toBe(1);
        expect((await settledInbox(u, h.jid)).length).toBe(1);
      });
    }
  });
});
