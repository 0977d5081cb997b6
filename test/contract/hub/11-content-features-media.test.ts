// HIP/1 conformance, spec 11 (content, features, media): the features iq, content details carried
// end to end (reply, fallback), content id binding at the hub user, and hub-hosted media fetched
// from `url` and checked (enc-sha256, AES-256-GCM with key/nonce, sha256, size), with Range.
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { encodeContent, MEDIA_KINDS, UNSUPPORTED_FEATURES } from '../../../src/protocol/index.ts';
import { createHubUser } from './support/hub-user.ts';
import { sha256, fetchAndVerify } from './support/media.ts';
import { freshId, nowSeconds } from './support/names.ts';
import { ProviderUser } from './support/provider-user.ts';
import { useHub } from './support/suite.ts';

/** The v1 list of spec 11, written out here rather than imported, so a codec change cannot hide. */
const V1_UNSUPPORTED = ['sticker', 'status', 'disappearing', 'view-once', 'poll', 'location', 'contact', 'reaction', 'edit', 'delete', 'call'];

describe('spec 11: content, features, media', () => {
  const hub = useHub();

  it('features: lists carried kinds (text, media kinds with max-size) and the v1 unsupported features', async () => {
    const t = hub();
    const u = await ProviderUser.create(t, { upload: false });
    const r = await u.iqOk({ xmlns: 'features', op: 'features' });
    if (r.op !== 'features') throw new Error(`features answered ${r.op}`);
    const names = r.kinds.map((k) => k.name);
    expect(names).toContain('text');
    for (const kind of MEDIA_KINDS) expect(names).toContain(kind);
    for (const kind of MEDIA_KINDS) expect(r.kinds.find((k) => k.name === kind)?.maxSize).toBeGreaterThan(0);
    // Every v1 feature is announced as unsupported; a hub MAY announce more.
    for (const f of V1_UNSUPPORTED) expect(r.unsupported).toContain(f);
    if (t.embedded) {
      // The embedded hub runs with the spec 11.1 defaults and the v1 list.
      expect(r.kinds.find((k) => k.name === 'image')?.maxSize).toBe(16 * 1024 * 1024);
      expect(r.kinds.find((k) => k.name === 'video')?.maxSize).toBe(64 * 1024 * 1024);
      expect(r.kinds.find((k) => k.name === 'audio')?.maxSize).toBe(16 * 1024 * 1024);
      expect(r.kinds.find((k) => k.name === 'voice')?.maxSize).toBe(16 * 1024 * 1024);
      expect(r.kinds.find((k) => k.name === 'document')?.maxSize).toBe(100 * 1024 * 1024);
      expect([...r.unsupported].sort()).toEqual([...V1_UNSUPPORTED].sort());
    }
    expect([...UNSUPPORTED_FEATURES].sort()).toEqual([...V1_UNSUPPORTED].sort());
  });

  describe('media (11.1): hub-hosted blobs', () => {
    it('a hub user\'s image arrives as type="media" with mediatype; the blob downloads, verifies and decrypts', async () => {
      const t = hub();
      const u = await ProviderUser.create(t);
      const h = await createHubUser(t);
      const data = randomBytes(50_000);
      const { id } = await t.control.send(h.jid, { to: u.jid, media: { kind: 'image', mime: 'image/jpeg', data: data.toString('base64'), filename: 'cat.jpg' } });
      const r = await u.receive((m) => m.id === id);
      expect(r.stanza.type).toBe('media');
      expect(r.stanza.enc.mediatype).toBe('image');
      const m = r.content.media;
      if (m === undefined) throw new Error('no <media> in the content');
      expect(m).toMatchObject({ kind: 'image', mime: 'image/jpeg', size: data.length, filename: 'cat.jpg' });
      expect(m.key.length).toBe(32);
      expect(m.nonce.length).toBe(12);
      expect(m.url.startsWith('http')).toBe(true);
      const { blob, plaintext } = await fetchAndVerify(m);
      expect(blob.length).toBe(data.length + 16);
      expect(plaintext.equals(data)).toBe(true);
      expect(sha256(plaintext).equals(Buffer.from(m.sha256))).toBe(true);
    });

    it('serves Range requests on a blob', async () => {
      const t = hub();
      const u = await ProviderUser.create(t);
      const h = await createHubUser(t);
      const data = randomBytes(4096);
      const { id } = await t.control.send(h.jid, { to: u.jid, media: { kind: 'document', mime: 'application/pdf', data: data.toString('base64'), filename: 'a.pdf' } });
      const r = await u.receive((x) => x.id === id);
      expect(r.stanza.enc.mediatype).toBe('document');
      const m = r.content.media;
      if (m === undefined) throw new Error('no <media> in the content');
      const full = await fetchAndVerify(m);
      const part = await fetch(m.url, { headers: { range: 'bytes=100-199' } });
      expect(part.status).toBe(206);
      const bytes = Buffer.from(await part.arrayBuffer());
      expect(bytes.equals(full.blob.subarray(100, 200))).toBe(true);
      expect(part.headers.get('content-range')).toBe(`bytes 100-199/${full.blob.length}`);
    });

    it('a made-up media token is 404', async () => {
      const res = await fetch(`${hub().url}/media/${randomBytes(24).toString('base64url')}`);
      expect(res.status).toBe(404);
    });
  });

  describe('content end to end', () => {
    it('a provider user\'s reply and fallback reach the hub user', async () => {
      const t = hub();
      const u = await ProviderUser.create(t);
      const h = await createHubUser(t);
      const { id: original } = await t.control.send(h.jid, { to: u.jid, text: 'question?' });
      await u.receive((m) => m.id === original);
      const msg = await u.buildMessage(h.jid, {
        text: 'answer',
        content: { reply: { to: original, sender: h.jid }, fallbacks: [{ for: 'reaction', text: 'reacted 👍' }] },
      });
      expect((await u.send(msg)).error).toBeUndefined();
      const inbox = await t.control.until(() => t.control.inbox(h.jid), (m) => m.length > 0, 5000, 'delivery');
      expect(inbox[0]?.content).toEqual({ text: 'answer', reply: { to: original, sender: h.jid }, fallbacks: [{ for: 'reaction', text: 'reacted 👍' }] });
    });

    it('a hub user\'s reply carries <reply to sender>', async () => {
      const t = hub();
      const u = await ProviderUser.create(t);
      const h = await createHubUser(t);
      const { msg } = await u.sendText(h.jid, 'say something back');
      const { id } = await t.control.send(h.jid, { to: u.jid, text: 'back', reply_to: msg.id });
      const r = await u.receive((m) => m.id === id);
      expect(r.content.reply).toEqual({ to: msg.id, sender: u.jid });
    });

    it('the hub user drops content whose id differs from the stanza (no delivery receipt, no retry)', async () => {
      const t = hub();
      const u = await ProviderUser.create(t);
      const h = await createHubUser(t, { script: { receipts: true } });
      const id = freshId();
      const relabelled = encodeContent({ id: freshId(), t: nowSeconds(), text: 'relabelled' });
      const msg = await u.buildMessage(h.jid, { plaintext: relabelled }, { id });
      expect((await u.send(msg)).error).toBeUndefined();
      await u.conn.none((s) => s.kind === 'receipt' && s.id === id, 1000, 'a receipt for relabelled content');
      const inbox = await t.control.inbox(h.jid);
      expect(inbox.some((m) => m.id === id && m.content?.text === 'relabelled')).toBe(false);
      // A correctly labelled message right after is delivered and receipted.
      const { msg: ok } = await u.sendText(h.jid, 'labelled');
      await u.conn.next((s) => s.kind === 'receipt' && s.id === ok.id && s.type === 'delivery');
    });

    it('the hub user treats bad padding as undecryptable and asks for a retry', async () => {
      const t = hub();
      const u = await ProviderUser.create(t);
      const h = await createHubUser(t);
      const id = freshId();
      const good = encodeContent({ id, t: nowSeconds(), text: 'bad pad' });
      const bad = new Uint8Array(good);
      bad[bad.length - 1] = 17; // not 1–16
      const msg = await u.buildMessage(h.jid, { plaintext: bad }, { id });
      expect((await u.send(msg)).error).toBeUndefined();
      const retry = await u.conn.next((s) => s.kind === 'receipt' && s.id === id && s.type === 'retry', 5000, 'retry receipt');
      expect(retry).toMatchObject({ from: h.jid, type: 'retry' });
    });
  });
});
