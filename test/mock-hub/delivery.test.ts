// Hub → provider delivery on a running hub: offline store + signed pushes + offline="1" (spec 2, 9),
// notifications (spec 8), delist (spec 10) and media both ways (spec 11.1).
import { createHash } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { computeDhash, decodeContent, deviceAddress, newId, verifyPushSignature } from '../../src/protocol/index.ts';
import type { IncomingMessage, NotificationStanza, Stanza } from '../../src/protocol/index.ts';
import { decryptMedia, encryptMedia } from '../../src/mock-hub/media.ts';
import type { MockHub } from '../../src/mock-hub/index.ts';
import { RawClient, control, encryptForDevices, hub, inbox, nowS, party, providerKeys, until, birdy } from './helpers.ts';
import type { Party, ProviderKeys } from './helpers.ts';

const BOB = '15550000001@hub';
const SECRET = 'push-secret-0123456789';

describe('delivery to provider users', () => {
  let h: MockHub;
  let keys: ProviderKeys;
  let alice: Party;
  const pushes: Array<{ body: string; ok: boolean }> = [];
  const blobs = new Map<string, Uint8Array>();
  const provider = createServer((req, res) => {
    if (req.method === 'GET') {
      const b = blobs.get(req.url ?? '');
      res.statusCode = b === undefined ? 404 : 200;
      return res.end(b === undefined ? undefined : Buffer.from(b));
    }
    let body = '';
    req.on('data', (c: Buffer) => { body += c.toString(); });
    req.on('end', () => {
      pushes.push({ body, ok: verifyPushSignature(SECRET, String(req.headers['x-hub-signature']), body, nowS()) });
      res.statusCode = 202;
      res.end();
    });
  });
  let base = '';

  beforeAll(async () => {
    await new Promise<void>((r) => provider.listen(0, '127.0.0.1', () => r()));
    base = `http://127.0.0.1:${(provider.address() as AddressInfo).port}`;
    keys = await providerKeys();
    h = await hub({
      providers: [{ ...birdy(keys), push_url: `${base}/push`, push_secret: SECRET }],
      users: [{ phone: '+15550000001', name: 'Bob', devices: [0] }, { phone: '+15550000002', name: 'Fay', devices: [0] }],
      limits: { low_prekeys: 20 },
    });
    alice = await party(h, keys, 'alice@birdy.interop');
  });
  afterAll(async () => {
    await h.close();
    await new Promise<void>((r) => provider.close(() => r()));
  });

  const next = (c: RawClient, pred: (s: Stanza) => boolean): Promise<Stanza> => c.wait(pred);

  it('sends the low-prekey notification once when a bundle is handed out (spec 8)', async () => {
    const r = await control(h, 'POST', '/control/users/15550000002@hub/send', { to: alice.jid, text: 'hi from fay' });
    expect(r.status).toBe(201);
    const n = (await next(alice.c, (s) => s.kind === 'notification' && s.type === 'encrypt')) as NotificationStanza;
    expect(n).toMatchObject({ type: 'encrypt', count: { value: 19, kyber: 19 } });
    alice.c.send({ kind: 'ack', class: 'notification', id: n.id });
    const m = (await next(alice.c, (s) => s.kind === 'message')) as IncomingMessage;
    expect(m.enc.type).toBe('pkmsg');
    expect(decodeContent(await alice.device.decrypt(m.participant, m.enc)).text).toBe('hi from fay');
    alice.c.send({ kind: 'ack', class: 'message', id: m.id, to: m.from });
  });

  it('stores for a user without a session, pushes, and delivers with offline="1" on open', async () => {
    alice.c.close();
    await alice.c.closed;
    await until(async () => ((await control(h, 'GET', `/control/provider-users/${alice.jid}`)).json['session_open'] === false ? true : undefined));
    pushes.length = 0;
    const r = await control(h, 'POST', `/control/users/${BOB}/send`, { to: alice.jid, text: 'while you were away' });
    expect(r.status).toBe(201);
    await until(() => (pushes.length > 0 ? true : undefined));
    expect(pushes[0]).toEqual({ body: JSON.stringify({ user: alice.jid, pending: 1 }), ok: true });
    const recorded = (await control(h, 'GET', '/control/pushes')).json['pushes'] as Array<Record<string, unknown>>;
    expect(recorded.at(-1)).toMatchObject({ user: alice.jid, pending: 1, status: 202 });
    expect((await control(h, 'GET', `/control/provider-users/${alice.jid}`)).json['offline']).toBe(1);

    alice.c = await RawClient.open(h, keys, alice.jid);
    const m = (await next(alice.c, (s) => s.kind === 'message' && s.id === r.json['id'])) as IncomingMessage;
    expect(m.offline).toBe(true);
    expect(decodeContent(await alice.device.decrypt(m.participant, m.enc)).text).toBe('while you were away');
    // not acked: delivered again on the next open
    alice.c.close();
    await alice.c.closed;
    alice.c = await RawClient.open(h, keys, alice.jid);
    const again = (await next(alice.c, (s) => s.kind === 'message' && s.id === r.json['id'])) as IncomingMessage;
    expect(again.offline).toBe(true);
    alice.c.send({ kind: 'ack', class: 'message', id: again.id, to: BOB });
    await until(async () => ((await control(h, 'GET', `/control/provider-users/${alice.jid}`)).json['offline'] === 0 ? true : undefined));
    const stats = (await control(h, 'GET', '/control/stats')).json;
    expect(stats['offline_stored']).toBeGreaterThanOrEqual(1);
    expect(stats['pushes_sent']).toBeGreaterThanOrEqual(1);
  });

  it('notifies contacts of device, identity and third-party changes (spec 8)', async () => {
    const added = await control(h, 'POST', `/control/users/${BOB}/devices`, {});
    expect(added).toMatchObject({ status: 201, json: { device: 1, dhash: computeDhash([deviceAddress(BOB, 0), deviceAddress(BOB, 1)]) } });
    const dn = (await next(alice.c, (s) => s.kind === 'notification' && s.type === 'devices')) as NotificationStanza;
    expect(dn).toMatchObject({ from: BOB, dhash: added.json['dhash'] });
    alice.c.send({ kind: 'ack', class: 'notification', id: dn.id });

    expect((await control(h, 'POST', `/control/users/${BOB}/identity`, { device: 0 })).status).toBe(200);
    const idn = await next(alice.c, (s) => s.kind === 'notification' && s.type === 'identity');
    expect(idn).toMatchObject({ from: BOB });

    expect((await control(h, 'PUT', `/control/users/${BOB}/third-party`, { enabled: false })).status).toBe(200);
    expect(await next(alice.c, (s) => s.kind === 'notification' && s.type === 'interop')).toMatchObject({ from: BOB, state: 'disabled' });
    await control(h, 'PUT', `/control/users/${BOB}/third-party`, { enabled: true });
    expect(await next(alice.c, (s) => s.kind === 'notification' && s.type === 'interop')).toMatchObject({ state: 'enabled' });

    // an unacked notification is delivered again on the next open
    alice.c.close();
    await alice.c.closed;
    alice.c = await RawClient.open(h, keys, alice.jid);
    const re = await next(alice.c, (s) => s.kind === 'notification' && s.type === 'identity');
    alice.c.send({ kind: 'ack', class: 'notification', id: (re as NotificationStanza).id });
    for (const s of [...alice.c.received]) if (s.kind === 'notification') alice.c.send({ kind: 'ack', class: 'notification', id: s.id });
  });

  it('announces a newly enrolled provider to open sessions', async () => {
    const r = await control(h, 'POST', '/control/providers', { id: 'haiket', name: 'Haiket', jwks: { keys: [keys.publicJwk] } });
    expect(r.status).toBe(201);
    const n = await next(alice.c, (s) => s.kind === 'notification' && s.type === 'providers');
    expect(n).toMatchObject({ providers: [{ id: 'haiket', name: 'Haiket' }] });
    expect((await control(h, 'POST', '/control/providers', { id: 'haiket', name: 'Haiket', jwks: { keys: [keys.publicJwk] } })).status).toBe(409);
    expect((await control(h, 'POST', '/control/providers', { id: 'Bad Id', name: 'x', jwks: { keys: [keys.publicJwk] } })).json).toMatchObject({ field: 'id' });
  });

  it('carries media both ways (hub-hosted and provider-hosted through the proxy)', async () => {
    const picture = Buffer.from('not really a png, but bytes all the same');
    const r = await control(h, 'POST', `/control/users/${BOB}/send`, { to: alice.jid, media: { kind: 'image', mime: 'image/png', data: picture.toString('base64'), filename: 'p.png' } });
    expect(r.status).toBe(201);
    const m = (await next(alice.c, (s) => s.kind === 'message' && s.id === r.json['id'])) as IncomingMessage;
    expect(m.type).toBe('media');
    expect(m.enc.mediatype).toBe('image');
    const content = decodeContent(await alice.device.decrypt(m.participant, m.enc));
    const ref = content.media!;
    expect(ref.url.startsWith(`${h.url}/media/`)).toBe(true);
    const blob = new Uint8Array(await (await fetch(ref.url)).arrayBuffer());
    expect(Buffer.from(decryptMedia(ref, blob))).toEqual(picture);
    const ranged = await fetch(ref.url, { headers: { range: 'bytes=0-3' } });
    expect(ranged.status).toBe(206);
    alice.c.send({ kind: 'ack', class: 'message', id: m.id, to: BOB });

    // provider-hosted media from alice to bob
    await control(h, 'DELETE', `/control/users/${BOB}/inbox`);
    const doc = Buffer.from('a document from alice');
    const e = encryptMedia(doc);
    blobs.set('/media/doc1', e.blob);
    const id = newId();
    const t = nowS();
    const devs = [deviceAddress(BOB, 0), deviceAddress(BOB, 1)];
    const participants = await encryptForDevices(alice, devs, {
      id, t, media: { kind: 'document', mime: 'text/plain', size: doc.length, sha256: e.sha256, encSha256: e.encSha256, key: e.key, nonce: e.nonce, url: `${base}/media/doc1`, filename: 'a.txt' },
    });
    alice.c.send({ kind: 'message', id, to: BOB, type: 'media', t, dhash: computeDhash(devs), participants: participants.map((p) => ({ ...p, enc: { ...p.enc, mediatype: 'document' as const } })) });
    expect(await next(alice.c, (s) => s.kind === 'ack' && s.id === id)).toMatchObject({ t: expect.any(Number) });
    const got = await until(async () => {
      const list = await inbox(h, BOB);
      return list.length === 2 ? list : undefined;
    });
    const sha = createHash('sha256').update(doc).digest('hex');
    for (const g of got) {
      expect(g).toMatchObject({ decrypted: true, content: { media: { kind: 'document', mime: 'text/plain', size: doc.length, sha256: sha, filename: 'a.txt' } } });
      expect(g['error']).toBeUndefined();
    }
  });

  it('delist removes keys and stored stanzas; hub users then get no-such-user', async () => {
    expect(await alice.c.iq('set', { xmlns: 'interop', op: 'delist' })).toMatchObject({ type: 'result' });
    expect(await alice.c.iq('get', { xmlns: 'interop', op: 'status' })).toMatchObject({ result: { enlisted: false } });
    const r = await control(h, 'POST', `/control/users/${BOB}/send`, { to: alice.jid, text: 'anyone?' });
    expect(r).toMatchObject({ status: 404, json: { error: 'no-such-user' } });
    expect((await control(h, 'GET', `/control/provider-users/${alice.jid}`)).json).toMatchObject({ enlisted: false, has_keys: false, offline: 0 });
    // and it may enlist again after uploading keys
    alice.device = await (await import('../../src/mock-hub/sim-device.ts')).SimDevice.create(deviceAddress(alice.jid, 1));
    expect(await alice.c.iq('set', alice.device.uploadPayload())).toMatchObject({ type: 'result' });
    expect(await alice.c.iq('set', { xmlns: 'interop', op: 'enlist' })).toMatchObject({ type: 'result' });
  });
});
