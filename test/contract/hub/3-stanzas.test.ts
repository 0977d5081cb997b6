// HIP/1 conformance, spec 3 (stanzas in general): forbidden XML constructs before and after
// <opened>, not-well-formed frames, unknown top-level elements, unknown attributes and children,
// bad ids and addresses (spec 1).
import { describe, expect, it } from 'vitest';
import { buildStanza } from '../../../src/protocol/index.ts';
import { createHubUser } from './support/hub-user.ts';
import { freshId } from './support/names.ts';
import { ProviderUser } from './support/provider-user.ts';
import { useHub } from './support/suite.ts';

/** The session still answers an iq (it was not closed by what came before). */
async function stillOpen(u: ProviderUser): Promise<void> {
  const r = await u.iqOk({ xmlns: 'interop', op: 'status' });
  expect(r.op).toBe('status');
  expect(u.conn.isClosed).toBe(false);
}

function statusIq(id: string): string {
  return `<iq id="${id}" type="get" xmlns="interop"><status/></iq>`;
}

function nested(depth: number): string {
  let s = '';
  for (let i = 0; i < depth; i++) s = `<n${i}>${s}</n${i}>`;
  return s;
}

describe('spec 3: stanzas', () => {
  const hub = useHub();

  describe('forbidden constructs after <opened> → ack 400 bad-request with class and id, session stays', () => {
    it('DOCTYPE declaration', async () => {
      const u = await ProviderUser.create(hub(), { upload: false });
      const id = freshId();
      u.conn.sendRaw(`<!DOCTYPE iq>${statusIq(id)}`);
      const ack = await u.conn.ack(id, 'iq');
      expect(ack).toMatchObject({ kind: 'ack', class: 'iq', id, error: 400, reason: 'bad-request' });
      await stillOpen(u);
    });

    it('entity declaration (with an entity reference)', async () => {
      const u = await ProviderUser.create(hub(), { upload: false });
      const id = freshId();
      u.conn.sendRaw(`<!DOCTYPE iq [<!ENTITY x "status">]><iq id="${id}" type="get" xmlns="interop"><status a="&x;"/></iq>`);
      const ack = await u.conn.ack(id, 'iq');
      expect(ack).toMatchObject({ error: 400, reason: 'bad-request' });
      await stillOpen(u);
    });

    it('processing instruction other than the XML declaration', async () => {
      const u = await ProviderUser.create(hub(), { upload: false });
      const id = freshId();
      u.conn.sendRaw(`<?evil stuff?>${statusIq(id)}`);
      const ack = await u.conn.ack(id, 'iq');
      expect(ack).toMatchObject({ error: 400, reason: 'bad-request' });
      await stillOpen(u);
    });

    it('nesting deeper than 16, on a message', async () => {
      const t = hub();
      const u = await ProviderUser.create(t);
      const h = await createHubUser(t);
      const msg = await u.buildMessage(h.jid, { text: 'deep' });
      u.conn.sendRaw(buildStanza(msg).replace(/<\/message>$/, `${nested(20)}</message>`));
      const ack = await u.conn.ack(msg.id);
      expect(ack).toMatchObject({ class: 'message', id: msg.id, error: 400, reason: 'bad-request' });
      await stillOpen(u);
      expect(await t.control.inbox(h.jid)).toEqual([]);
    });
  });

  describe('project decisions (docs/protocol-notes.md)', () => {
    it('prototype-polluting names are a forbidden construct (ack 400 bad-request)', async () => {
      const u = await ProviderUser.create(hub(), { upload: false });
      const id = freshId();
      u.conn.sendRaw(`<iq id="${id}" type="get" xmlns="interop"><status __proto__="x"/></iq>`);
      expect(await u.conn.ack(id, 'iq')).toMatchObject({ error: 400, reason: 'bad-request' });
      await stillOpen(u);
    });

    it('CDATA sections are a forbidden construct (ack 400 bad-request)', async () => {
      const u = await ProviderUser.create(hub(), { upload: false });
      const id = freshId();
      u.conn.sendRaw(`<iq id="${id}" type="get" xmlns="interop"><status><![CDATA[x]]></status></iq>`);
      expect(await u.conn.ack(id, 'iq')).toMatchObject({ error: 400, reason: 'bad-request' });
      await stillOpen(u);
    });

    it('a stanza only the hub sends (a second <open>) gets ack 400 bad-request after <opened>', async () => {
      const u = await ProviderUser.create(hub(), { upload: false });
      u.conn.sendRaw(`<open user="${u.jid}" token="x"/>`);
      expect(await u.conn.next((s) => s.kind === 'ack' && s.class === 'open')).toMatchObject({ error: 400, reason: 'bad-request' });
      await stillOpen(u);
    });

    it('a chatstate to a hub user gets no ack and leaves the session open', async () => {
      const t = hub();
      const u = await ProviderUser.create(t);
      const h = await createHubUser(t);
      u.conn.send({ kind: 'chatstate', to: h.jid, state: 'composing' });
      await u.conn.none((s) => s.kind === 'ack', 500, 'an ack for a chatstate');
      await stillOpen(u);
    });
  });

  it('accepts an XML declaration', async () => {
    const u = await ProviderUser.create(hub(), { upload: false });
    const id = freshId();
    u.conn.sendRaw(`<?xml version="1.0" encoding="UTF-8"?>${statusIq(id)}`);
    const answer = await u.conn.iqAnswer(id);
    expect(answer).toMatchObject({ type: 'result', result: { op: 'status', enlisted: false } });
  });

  it('accepts nesting of 16 levels (unknown children, ignored)', async () => {
    const t = hub();
    const u = await ProviderUser.create(t);
    const h = await createHubUser(t);
    const msg = await u.buildMessage(h.jid, { text: 'sixteen' });
    u.conn.sendRaw(buildStanza(msg).replace(/<\/message>$/, `${nested(15)}</message>`));
    const ack = await u.conn.ack(msg.id);
    expect(ack.error).toBeUndefined();
    expect(ack.t).toBeTypeOf('number');
  });

  it('closes with 1007 on a frame that is not well-formed after <opened>', async () => {
    const u = await ProviderUser.create(hub(), { upload: false });
    u.conn.sendRaw('<iq id="broken01" type="get" xmlns="interop"><status></iq>');
    expect((await u.conn.closedWithin(3000)).code).toBe(1007);
  });

  it('closes with 1007 on two root elements after <opened>', async () => {
    const u = await ProviderUser.create(hub(), { upload: false });
    u.conn.sendRaw(`${statusIq(freshId())}${statusIq(freshId())}`);
    expect((await u.conn.closedWithin(3000)).code).toBe(1007);
  });

  describe('unknown top-level element → ack class="unknown" 400 unrecognized-stanza', () => {
    it('with an id (echoed)', async () => {
      const u = await ProviderUser.create(hub(), { upload: false });
      const id = freshId();
      u.conn.sendRaw(`<presence id="${id}" type="available"><show>chat</show></presence>`);
      const ack = await u.conn.ack(id, 'unknown');
      expect(ack).toMatchObject({ kind: 'ack', class: 'unknown', id, error: 400, reason: 'unrecognized-stanza' });
      await stillOpen(u);
    });

    it('without an id', async () => {
      const u = await ProviderUser.create(hub(), { upload: false });
      u.conn.sendRaw('<presence/>');
      const ack = await u.conn.next((s) => s.kind === 'ack' && s.class === 'unknown');
      expect(ack).toMatchObject({ error: 400, reason: 'unrecognized-stanza' });
      expect((ack as { id?: string }).id).toBeUndefined();
      await stillOpen(u);
    });
  });

  describe('unknown attributes and children are ignored', () => {
    it('unknown attributes on an iq', async () => {
      const u = await ProviderUser.create(hub(), { upload: false });
      const id = freshId();
      u.conn.sendRaw(`<iq id="${id}" type="get" xmlns="interop" x-future="1" lang="en"><status verbose="yes"/></iq>`);
      expect(await u.conn.iqAnswer(id)).toMatchObject({ type: 'result', result: { op: 'status', enlisted: false } });
    });

    it('unknown attributes and child elements of a message: accepted and delivered', async () => {
      const t = hub();
      const u = await ProviderUser.create(t);
      const h = await createHubUser(t);
      const msg = await u.buildMessage(h.jid, { text: 'with extras' });
      const frame = buildStanza(msg)
        .replace(/^<message /, '<message x-priority="high" ')
        .replace(/<\/message>$/, '<x-meta source="test"><x-inner>ignored</x-inner></x-meta></message>');
      u.conn.sendRaw(frame);
      const ack = await u.conn.ack(msg.id);
      expect(ack.error).toBeUndefined();
      expect(ack.t).toBeTypeOf('number');
      const inbox = await t.control.until(() => t.control.inbox(h.jid), (m) => m.length > 0, 5000, 'delivery to the hub user');
      expect(inbox[0]).toMatchObject({ id: msg.id, decrypted: true, content: { text: 'with extras' } });
    });

    it('unknown child elements of a receipt', async () => {
      const t = hub();
      const u = await ProviderUser.create(t);
      const h = await createHubUser(t);
      const { id } = await t.control.send(h.jid, { to: u.jid, text: 'receipt me' });
      await u.receive((m) => m.id === id);
      u.conn.sendRaw(`<receipt id="${id}" to="${h.jid}" type="read" x-extra="1"><x-why>because</x-why></receipt>`);
      const ack = await u.conn.next((s) => s.kind === 'ack' && s.class === 'receipt' && s.id === id);
      expect(ack).toMatchObject({ class: 'receipt', id, type: 'read', to: h.jid });
      expect((ack as { error?: number }).error).toBeUndefined();
    });
  });

  describe('invalid values → ack 400 bad-request', () => {
    it('a message to an address that does not parse (spec 1)', async () => {
      const t = hub();
      const u = await ProviderUser.create(t);
      const id = freshId();
      u.conn.sendRaw(`<message id="${id}" to="not an address" type="text" dhash="2:AAAAAAAA"><participants><to jid="x:0@hub"><enc v="1" type="msg">AAAA</enc></to></participants></message>`);
      expect(await u.conn.ack(id)).toMatchObject({ class: 'message', id, error: 400, reason: 'bad-request' });
      await stillOpen(u);
    });

    it('a message whose id is not 8–64 of [A-Za-z0-9_-]', async () => {
      const t = hub();
      const u = await ProviderUser.create(t);
      const h = await createHubUser(t);
      const msg = await u.buildMessage(h.jid, { text: 'bad id' });
      u.conn.sendRaw(buildStanza(msg).replace(`id="${msg.id}"`, 'id="short"'));
      const ack = await u.conn.next((s) => s.kind === 'ack' && s.class === 'message');
      expect(ack).toMatchObject({ error: 400, reason: 'bad-request' });
      await stillOpen(u);
      expect(await t.control.inbox(h.jid)).toEqual([]);
    });

    it('a message whose ciphertext is not base64', async () => {
      const t = hub();
      const u = await ProviderUser.create(t);
      const h = await createHubUser(t);
      const msg = await u.buildMessage(h.jid, { text: 'bad b64' });
      u.conn.sendRaw(buildStanza(msg).replace(/(<enc[^>]*>)[^<]*(<\/enc>)/, '$1***not base64***$2'));
      expect(await u.conn.ack(msg.id)).toMatchObject({ error: 400, reason: 'bad-request' });
      await stillOpen(u);
    });
  });
});
