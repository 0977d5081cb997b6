// HIP/1 conformance, spec 9 (hub → provider HTTP): a signed push to push_url when a stanza is
// stored for a user with no open session; `pending` counts stored stanzas of every kind; retries
// after a failed push.
import { createHmac, timingSafeEqual } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { verifyPushSignature } from '../../../src/protocol/index.ts';
import { createHubUser } from './support/hub-user.ts';
import { nowSeconds } from './support/names.ts';
import { ProviderUser } from './support/provider-user.ts';
import type { ReceivedPush } from './support/push-receiver.ts';
import { useHub } from './support/suite.ts';
import { pushProvider } from './support/target.ts';

/** An independent check of `X-Hub-Signature: t=T,v1=HEX` (HMAC-SHA256 over `t + "." + body`). */
function checkSignature(secret: string, header: string, body: string): { t: number; ok: boolean } {
  const m = /^t=(\d+),v1=([0-9a-f]{64})$/.exec(header);
  if (m === null) return { t: 0, ok: false };
  const want = createHmac('sha256', secret).update(`${m[1]}.${body}`).digest();
  return { t: Number(m[1]), ok: timingSafeEqual(want, Buffer.from(m[2] ?? '', 'hex')) };
}

function pushFor(user: string): (p: ReceivedPush) => boolean {
  return (p) => {
    try {
      return (JSON.parse(p.body) as { user?: string }).user === user;
    } catch {
      return false;
    }
  };
}

describe('spec 9: push', () => {
  const hub = useHub();

  /** A user of the push provider whose session is closed, a hub user, and the receiver's count of pushes so far. */
  async function offlineUser() {
    const t = hub();
    const provider = pushProvider(t);
    const u = await ProviderUser.create(t, { provider });
    await u.close();
    const h = await createHubUser(t);
    return { t, provider, u, h, from: t.push.received.length };
  }

  it('POSTs a signed push to push_url when a message is stored for a user with no session', async () => {
    const { t, provider, u, h, from } = await offlineUser();
    const secret = provider.pushSecret ?? '';
    await t.control.send(h.jid, { to: u.jid, text: 'wake up' });
    const p = await t.push.waitFor(pushFor(u.jid), 5000, from);
    expect(p.contentType).toMatch(/^application\/json/);
    expect(JSON.parse(p.body)).toEqual({ user: u.jid, pending: 1 });
    const header = p.signature ?? '';
    expect(verifyPushSignature(secret, header, p.body, nowSeconds())).toBe(true);
    const own = checkSignature(secret, header, p.body);
    expect(own.ok).toBe(true);
    expect(Math.abs(own.t - nowSeconds())).toBeLessThanOrEqual(5);
    // The signature binds the body and the secret.
    expect(verifyPushSignature(`${secret}x`, header, p.body, nowSeconds())).toBe(false);
    expect(verifyPushSignature(secret, header, p.body.replace('"pending":1', '"pending":2'), nowSeconds())).toBe(false);
    await t.control.until(() => t.control.pushes(), (l) => l.some((x) => x.user === u.jid && x.status === 202), 5000, 'push recorded as 202');
  });

  it('pending counts the stored stanzas of every kind (messages, receipts, notifications)', async () => {
    const t = hub();
    const provider = pushProvider(t);
    const u = await ProviderUser.create(t, { provider });
    const h = await createHubUser(t);
    const { msg } = await u.sendText(h.jid, 'before going away');
    await u.close();
    const from = t.push.received.length;
    await t.control.send(h.jid, { to: u.jid, text: 'one' });
    await t.push.waitFor((p) => pushFor(u.jid)(p) && (JSON.parse(p.body) as { pending: number }).pending === 1, 5000, from);
    // Let the hub see the 202 before the next stanza is stored (one push at a time per user).
    await t.control.until(() => t.control.pushes(), (l) => l.some((x) => x.user === u.jid && x.pending === 1 && x.status === 202), 5000, 'push 1 done');
    await t.control.sendReceipts(h.jid, { to: u.jid, ids: [msg.id], type: 'read' });
    await t.push.waitFor((p) => pushFor(u.jid)(p) && (JSON.parse(p.body) as { pending: number }).pending === 2, 5000, from);
    await t.control.until(() => t.control.pushes(), (l) => l.some((x) => x.user === u.jid && x.pending === 2 && x.status === 202), 5000, 'push 2 done');
    await t.control.addDevice(h.jid, 6); // devices notification to a contact
    const third = await t.push.waitFor((p) => pushFor(u.jid)(p) && (JSON.parse(p.body) as { pending: number }).pending === 3, 5000, from);
    expect(JSON.parse(third.body)).toEqual({ user: u.jid, pending: 3 });
    expect((await t.control.providerUser(u.jid)).offline).toBe(3);
    // Opening drains the store: a message, a receipt and a notification.
    await u.open();
    const m = await u.receive();
    expect(m.stanza.offline).toBe(true);
    await u.conn.next((s) => s.kind === 'receipt' && s.id === msg.id);
    await u.conn.next((s) => s.kind === 'notification' && s.type === 'devices');
  });

  it('a stanza stored while a push is in flight is pushed too (with the new pending count)', async () => {
    const { t, provider, u, h, from } = await offlineUser();
    t.push.setDelay(800);
    try {
      await t.control.send(h.jid, { to: u.jid, text: 'first' });
      await t.push.waitFor(pushFor(u.jid), 5000, from);
      // The first push has not been answered yet.
      await t.control.send(h.jid, { to: u.jid, text: 'second' });
      await t.control.until(() => t.control.providerUser(u.jid), (v) => v.offline === 2, 5000, 'two stored messages');
      t.push.setDelay(0);
      const second = await t.push.waitFor((p) => pushFor(u.jid)(p) && (JSON.parse(p.body) as { pending: number }).pending === 2, 5000, from);
      expect(verifyPushSignature(provider.pushSecret ?? '', second.signature ?? '', second.body, nowSeconds())).toBe(true);
    } finally {
      t.push.setDelay(0);
    }
  });

  it('does not push while the user has an open session', async () => {
    const t = hub();
    const provider = pushProvider(t);
    const u = await ProviderUser.create(t, { provider });
    const h = await createHubUser(t);
    const from = t.push.received.length;
    const { id } = await t.control.send(h.jid, { to: u.jid, text: 'you are here' });
    await u.receive((m) => m.id === id);
    await new Promise((r) => setTimeout(r, 500));
    expect(t.push.received.slice(from).filter(pushFor(u.jid))).toEqual([]);
  });

  it('retries a push the provider did not accept', async () => {
    const { t, provider, u, h, from } = await offlineUser();
    t.push.setStatus(500);
    try {
      await t.control.send(h.jid, { to: u.jid, text: 'are you there?' });
      const failed = await t.push.waitFor(pushFor(u.jid), 5000, from);
      await t.control.until(() => t.control.pushes(), (l) => l.some((x) => x.user === u.jid && x.status === 500), 5000, 'a push recorded as 500');
      t.push.setStatus(202);
      const retried = await t.push.waitFor((p) => pushFor(u.jid)(p) && p.at > failed.at, 15_000, from);
      expect(JSON.parse(retried.body)).toMatchObject({ user: u.jid, pending: 1 });
      expect(verifyPushSignature(provider.pushSecret ?? '', retried.signature ?? '', retried.body, nowSeconds())).toBe(true);
    } finally {
      t.push.setStatus(202);
    }
  }, 20_000);
});
