// The hub's `features` answer (spec 11) in the outbound decisions, through the whole sidecar: a kind
// the hub announces as unsupported is downgraded before the first send (no 406), and a kind the hub
// refuses with a 406 is learned, so that the next message of that kind is downgraded without one.
// 406s are counted on the acks the real mock hub sent to the sidecar's connections.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { HubConnection } from '../../src/hub/connection.ts';
import { FEATURES_MAX_AGE_MS } from '../../src/hub/features.ts';
import { featuresFromAnswer, type HubFeatures } from '../../src/policy/index.ts';
import type { AckStanza } from '../../src/protocol/index.ts';
import { eventually } from '../delivery/harness.ts';
import { startStack, type Stack } from '../e2e/sidecar-stack.ts';
import { mp4, sha256 } from '../media/support/fixtures.ts';

type Entry = { id: string; decrypted: boolean; content?: { media?: { kind: string; size: number; sha256: string; filename?: string } } };
const ADA = '447700900123@hub';
const USERS = [{ phone: '+447700900123', name: 'Ada', devices: [0], script: { echo: false, receipts: false, read: false, delay_ms: 0 } }];

/** Every message ack the hub sent to this process's sessions, as they arrive. */
let acks: AckStanza[];
beforeEach(() => {
  acks = [];
  const send = HubConnection.prototype.sendMessage;
  vi.spyOn(HubConnection.prototype, 'sendMessage').mockImplementation(function (this: HubConnection, ...a: Parameters<HubConnection['sendMessage']>) {
    return send.apply(this, a).then((ack) => (acks.push(ack), ack));
  });
});
afterEach(() => vi.restoreAllMocks());

const refused406 = (): number => acks.filter((a) => a.error === 406).length;

async function sendVideo(s: Stack, key: string): Promise<{ id: string; file: Buffer }> {
  const file = mp4(64, 48, 1000);
  const r = await s.api('POST', '/v1/messages', { from: 'alice', to: ADA, media: { kind: 'video', mime: 'video/mp4', data_base64: file.toString('base64'), filename: 'clip.mp4' } }, { 'idempotency-key': key });
  expect(r.status, JSON.stringify(r.body)).toBe(202);
  return { id: r.body.message_id as string, file };
}

async function finalStatus(s: Stack, id: string): Promise<Record<string, unknown>> {
  const e = await eventually(async () => s.receiver.events().find((x) => x.type === 'message.status' && x.data.message_id === id && x.data.state !== 'queued'), 20_000, `final status of ${id}`);
  return e.data;
}

async function atHub(s: Stack, id: string): Promise<Entry> {
  return eventually(async () => ((await s.control('GET', `/users/${ADA}/inbox`)).body as unknown as { messages: Entry[] }).messages.find((m) => m.id === id), 20_000, `${id} at the hub`);
}

async function stored(s: Stack): Promise<HubFeatures | undefined> {
  const raw = await s.causeway.redis.get(`${s.prefix}:hub-features`);
  return raw === null ? undefined : (JSON.parse(raw) as HubFeatures);
}

describe('hub features in the outbound policy', () => {
  it('the mock hub announces a configured unsupported kind in its features answer', async () => {
    const s = await startStack({ users: USERS, features: { unsupported: ['video'] } });
    try {
      expect((await s.api('PUT', '/v1/users/alice/interop', { enabled: true })).status).toBe(200);
      const conn = await s.causeway.sessions.get('alice@birdy.interop');
      const r = await conn.iq({ xmlns: 'features', op: 'features' }, 'get');
      expect(r).toMatchObject({ op: 'features' });
      if (r.op !== 'features') throw new Error('not a features answer');
      expect(r.unsupported).toContain('video');
      expect(r.unsupported).toContain('sticker');
      expect(r.kinds.map((k) => k.name)).not.toContain('video');
      expect(r.kinds.find((k) => k.name === 'image')?.maxSize).toBe(16 * 1024 * 1024);
    } finally {
      await s.close();
    }
  });

  it('a kind the hub announced as unsupported is downgraded before the first send: no 406', async () => {
    const s = await startStack({ users: USERS, features: { unsupported: ['video'] } });
    try {
      // Opting in opens alice's session: the sidecar asks `features` then, and keeps the answer.
      expect((await s.api('PUT', '/v1/users/alice/interop', { enabled: true })).status).toBe(200);
      const learned = await eventually(async () => (await stored(s))?.source === 'hub' && stored(s), 10_000, 'features learned');
      expect(learned).toMatchObject({ source: 'hub' });
      expect(learned && learned.unsupported).toContain('video');
      expect(learned && learned.limits).toMatchObject({ video: 64 * 1024 * 1024 });

      const { id, file } = await sendVideo(s, 'feat-a');
      expect(await finalStatus(s, id)).toMatchObject({ state: 'sent', downgraded: [{ feature: 'video', to: 'document' }] });
      const at = await atHub(s, id);
      expect(at.decrypted).toBe(true);
      expect(at.content?.media).toMatchObject({ kind: 'document', size: file.length, sha256: sha256(file).toString('hex'), filename: 'clip.mp4' });
      expect(acks.filter((a) => a.id === id)).toHaveLength(1);
      expect(refused406()).toBe(0);
    } finally {
      await s.close();
    }
  });

  it('a 406 is learned: the second message of the refused kind is downgraded without a second 406', async () => {
    const s = await startStack({ users: USERS, features: { unsupported: ['video'] } });
    try {
      // A fresh answer stored (by another replica, say) from before the hub stopped carrying video:
      // it is not stale, so nobody asks again, and the policy takes video as carried.
      const before = featuresFromAnswer({ kinds: [{ name: 'text' }, { name: 'video', maxSize: 64 * 1024 * 1024 }, { name: 'document' }], unsupported: [] }, Date.now());
      await s.causeway.redis.set(`${s.prefix}:hub-features`, JSON.stringify(before));
      expect((await s.api('PUT', '/v1/users/alice/interop', { enabled: true })).status).toBe(200);

      const first = await sendVideo(s, 'feat-b1');
      expect(await finalStatus(s, first.id)).toMatchObject({ state: 'sent', downgraded: [{ feature: 'video', to: 'document' }] });
      expect(refused406()).toBe(1);
      expect((await stored(s))?.refused).toHaveProperty('video');

      const second = await sendVideo(s, 'feat-b2');
      expect(await finalStatus(s, second.id)).toMatchObject({ state: 'sent', downgraded: [{ feature: 'video', to: 'document' }] });
      expect((await atHub(s, second.id)).content?.media).toMatchObject({ kind: 'document', size: second.file.length });
      expect(acks.filter((a) => a.id === second.id)).toHaveLength(1);
      expect(refused406()).toBe(1);
      // The answer stored before was fresh: the hub was not asked (its answer would have replaced it).
      expect((await stored(s))?.learnedAt).toBe(before.learnedAt);
      expect(Date.now() - (before.learnedAt ?? 0)).toBeLessThan(FEATURES_MAX_AGE_MS);
    } finally {
      await s.close();
    }
  });
});
