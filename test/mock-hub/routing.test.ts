// Message acceptance (spec 4) and delivery to simulated hub devices (spec 5, 6.2) on a running hub.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { computeDhash, decodeContent, deviceAddress, newId } from '../../src/protocol/index.ts';
import type { AckStanza, IncomingMessage, ReceiptStanza } from '../../src/protocol/index.ts';
import type { MockHub } from '../../src/mock-hub/index.ts';
import { RawClient, birdyHubWithAlice, control, encryptForDevices, inbox, nowS, party, sendText, until } from './helpers.ts';
import type { Party, ProviderKeys } from './helpers.ts';

const BOB = '15550000001@hub';
const CAROL = '15550000002@hub'; // third-party chats off
const DAN = '15550000003@hub'; // accepts only haiket
const BOB_DEVS = ['15550000001:0@hub', '15550000001:3@hub'];

describe('message routing', () => {
  let h: MockHub;
  let keys: ProviderKeys;
  let alice: Party;

  beforeAll(async () => {
    ({ h, keys, alice } = await birdyHubWithAlice((k) => ({
      providers: [{ id: 'haiket', name: 'Haiket', jwks: { keys: [k.publicJwk as Record<string, unknown>] } }],
      users: [
        { phone: '+15550000001', name: 'Bob', devices: [0, 3] },
        { phone: '+15550000002', third_party: { enabled: false, providers: ['*'] } },
        { phone: '+15550000003', third_party: { enabled: true, providers: ['haiket'] } },
      ],
    })));
  });
  afterAll(() => h.close());

  it('refuses a sender that has not enlisted, and enlisting without keys', async () => {
    const erin = await RawClient.open(h, keys, 'erin@birdy.interop');
    expect(await erin.iq('set', { xmlns: 'interop', op: 'enlist' })).toMatchObject({ type: 'error', error: { code: 400, reason: 'bad-request' } });
    expect(await erin.iq('get', { xmlns: 'interop', op: 'status' })).toMatchObject({ result: { enlisted: false } });
    const id = newId();
    erin.send({ kind: 'message', id, to: BOB, type: 'text', dhash: computeDhash(BOB_DEVS), participants: BOB_DEVS.map((jid) => ({ jid, enc: { v: 1, type: 'msg', ciphertext: new Uint8Array([1]) } })) });
    expect(await erin.wait((s) => s.kind === 'ack' && s.id === id)).toMatchObject({ error: 403, reason: 'not-enlisted' });
    erin.close();
  });

  it('gives one answer for unknown, opted-out and other-provider users', async () => {
    for (const to of [CAROL, DAN, '15559999999@hub']) {
      const id = newId();
      const dev = `${to.split('@')[0]}:0@hub`;
      alice.c.send({ kind: 'message', id, to, type: 'text', dhash: computeDhash([dev]), participants: [{ jid: dev, enc: { v: 1, type: 'msg', ciphertext: new Uint8Array([1]) } }] });
      expect(await alice.c.wait((s) => s.kind === 'ack' && s.id === id)).toMatchObject({ error: 403, reason: 'not-opted-in' });
      expect(await alice.c.iq('get', { xmlns: 'devices', op: 'devices', jid: to })).toMatchObject({ type: 'error', error: { code: 404, reason: 'no-such-user' } });
      expect(await alice.c.iq('get', { xmlns: 'directory', op: 'lookup', phone: `+${to.split('@')[0]}` })).toMatchObject({ type: 'error', error: { code: 404 } });
      expect(await alice.c.iq('get', { xmlns: 'encrypt', op: 'fetch', jids: [dev] })).toMatchObject({ result: { users: [{ jid: dev, error: { code: 404, reason: 'no-such-user' } }] } });
    }
    expect(await alice.c.iq('get', { xmlns: 'encrypt', op: 'fetch', jids: ['15550000001:7@hub'] })).toMatchObject({ result: { users: [{ error: { code: 404, reason: 'no-such-device' } }] } });
    // provider users: 404 when unknown (or delisted), 403 not-opted-in when enlisted (not routed)
    const id = newId();
    alice.c.send({ kind: 'message', id, to: 'zoe@haiket.interop', type: 'text', participants: [{ jid: 'zoe:1@haiket.interop', enc: { v: 1, type: 'msg', ciphertext: new Uint8Array([1]) } }] });
    expect(await alice.c.wait((s) => s.kind === 'ack' && s.id === id)).toMatchObject({ error: 404, reason: 'no-such-user' });
    const zoe = await party(h, keys, 'zoe@haiket.interop');
    const id2 = newId();
    alice.c.send({ kind: 'message', id: id2, to: zoe.jid, type: 'text', participants: [{ jid: 'zoe:1@haiket.interop', enc: { v: 1, type: 'msg', ciphertext: new Uint8Array([1]) } }] });
    expect(await alice.c.wait((s) => s.kind === 'ack' && s.id === id2)).toMatchObject({ error: 403, reason: 'not-opted-in' });
    zoe.c.close();
  });

  it('answers 406 for features and groups, 403 blocked, 409 stale devices (id stays unused)', async () => {
    const sticker = newId();
    alice.c.send({ kind: 'message', id: sticker, to: BOB, type: 'sticker', dhash: computeDhash(BOB_DEVS), participants: BOB_DEVS.map((jid) => ({ jid, enc: { v: 1, type: 'msg', ciphertext: new Uint8Array([1]) } })) });
    expect(await alice.c.wait((s) => s.kind === 'ack' && s.id === sticker)).toMatchObject({ error: 406, reason: 'unsupported-in-interop', unsupported: 'sticker' });
    const stickerMedia = newId();
    alice.c.send({ kind: 'message', id: stickerMedia, to: BOB, type: 'media', dhash: computeDhash(BOB_DEVS), participants: BOB_DEVS.map((jid) => ({ jid, enc: { v: 1, type: 'msg', mediatype: 'sticker', ciphertext: new Uint8Array([1]) } })) });
    expect(await alice.c.wait((s) => s.kind === 'ack' && s.id === stickerMedia)).toMatchObject({ error: 406, unsupported: 'sticker' });
    const empty = newId();
    alice.c.send({ kind: 'message', id: empty, to: BOB, type: 'text', dhash: computeDhash(BOB_DEVS), participants: [] });
    expect(await alice.c.wait((s) => s.kind === 'ack' && s.id === empty)).toMatchObject({ error: 409, devices: { devices: [0, 3] } });
    const group = newId();
    alice.c.send({ kind: 'message', id: group, to: '120363040@g.hub', type: 'text', participants: [{ jid: '15550000001:0@hub', enc: { v: 1, type: 'msg', ciphertext: new Uint8Array([1]) } }] });
    expect(await alice.c.wait((s) => s.kind === 'ack' && s.id === group)).toMatchObject({ error: 406, unsupported: 'groups' });

    await control(h, 'POST', `/control/users/${BOB}/block`, { user: 'alice@birdy.interop' });
    expect(await sendText(alice, BOB, [0, 3], 'blocked?')).toMatchObject({ error: 403, reason: 'blocked' });
    expect((await control(h, 'DELETE', `/control/users/${BOB}/block`, { user: 'alice@birdy.interop' })).json).toEqual({ blocked: [] });

    const id = newId();
    const stale = (await sendText(alice, BOB, [0], 'only one device', id));
    expect(stale).toMatchObject({ error: 409, reason: 'stale-devices', devices: { jid: BOB, devices: [0, 3], dhash: computeDhash(BOB_DEVS) } });
    expect(await sendText(alice, BOB, [0, 3], 'both devices', id)).toMatchObject({ t: expect.any(Number) });
  });

  it('is idempotent: same stanza → same ack and t, no second delivery; other body → id-reused', async () => {
    await control(h, 'DELETE', `/control/users/${BOB}/inbox`);
    const id = newId();
    const t = nowS();
    const participants = await encryptForDevices(alice, BOB_DEVS, { id, t, text: 'once' });
    const stanza = { kind: 'message' as const, id, to: BOB, type: 'text', t, dhash: computeDhash(BOB_DEVS), participants };
    alice.c.send(stanza);
    const a1 = (await alice.c.wait((s) => s.kind === 'ack' && s.id === id)) as AckStanza;
    await new Promise((r) => setTimeout(r, 1100));
    alice.c.send({ ...stanza, t: t + 5 });
    const a2 = (await alice.c.wait((s) => s.kind === 'ack' && s.id === id)) as AckStanza;
    expect(a2.t).toBe(a1.t);
    expect(a2.error).toBeUndefined();
    alice.c.send({ ...stanza, participants: participants.map((p) => ({ ...p, enc: { ...p.enc, ciphertext: new Uint8Array([1, 2, 3]) } })) });
    expect(await alice.c.wait((s) => s.kind === 'ack' && s.id === id)).toMatchObject({ error: 400, reason: 'id-reused' });
    await until(async () => ((await inbox(h, BOB)).length === 2 ? true : undefined));
    await new Promise((r) => setTimeout(r, 100));
    expect((await inbox(h, BOB)).filter((m) => m['id'] === id)).toHaveLength(2);
  });

  it('a simulated device asks for a retry on an undecryptable enc; a resend with count is delivered', async () => {
    await control(h, 'DELETE', `/control/users/${BOB}/inbox`);
    const id = newId();
    const t = nowS();
    const good = await encryptForDevices(alice, BOB_DEVS, { id, t, text: 'retry me' });
    // device 3 gets garbage
    const participants = [good[0]!, { jid: BOB_DEVS[1]!, enc: { v: 1 as const, type: 'msg' as const, ciphertext: new Uint8Array([7, 7, 7]) } }];
    alice.c.send({ kind: 'message', id, to: BOB, type: 'text', t, dhash: computeDhash(BOB_DEVS), participants });
    expect(await alice.c.wait((s) => s.kind === 'ack' && s.id === id)).toMatchObject({ t: expect.any(Number) });
    const retry = (await alice.c.wait((s) => s.kind === 'receipt' && s.type === 'retry' && s.id === id)) as ReceiptStanza;
    expect(retry).toMatchObject({ from: BOB, participant: BOB_DEVS[1], retry: { count: 1, t } });
    expect(retry.keys).toBeUndefined();
    const reg = retry.registration;
    expect(typeof reg).toBe('number');
    alice.c.send({ kind: 'ack', class: 'receipt', id, type: 'retry', from: BOB, participant: BOB_DEVS[1] });

    // answer it: fresh session from a fetched bundle, same plaintext, count 1, only that device
    await alice.device.dropSession(BOB_DEVS[1]!);
    const [again] = await encryptForDevices(alice, [BOB_DEVS[1]!], { id, t, text: 'retry me' });
    alice.c.send({ kind: 'message', id, to: BOB, type: 'text', t, participants: [{ jid: again!.jid, enc: { ...again!.enc, count: 1 } }] });
    expect(await alice.c.wait((s) => s.kind === 'ack' && s.id === id)).toMatchObject({ t: expect.any(Number) });
    const entries = await until(async () => {
      const m = (await inbox(h, BOB)).filter((e) => e['id'] === id);
      return m.length === 3 ? m : undefined;
    });
    const seen = entries.map((e) => [e['device'], e['decrypted'], e['count'] ?? 0]);
    seen.sort((a, b) => String(a).localeCompare(String(b)));
    expect(seen).toEqual([[0, true, 0], [3, false, 0], [3, true, 1]]);
  });

  it('re-encrypts a hub user message after a retry receipt from the client (spec 6.2)', async () => {
    const sent = await control(h, 'POST', `/control/users/${BOB}/send`, { to: 'alice@birdy.interop', text: 'from bob', from_device: 3 });
    expect(sent.status).toBe(201);
    const id = sent.json['id'] as string;
    const m1 = (await alice.c.wait((s) => s.kind === 'message' && s.id === id)) as IncomingMessage;
    expect(m1.participant).toBe(BOB_DEVS[1]);
    alice.c.send({ kind: 'ack', class: 'message', id, to: BOB });
    // pretend it was undecryptable
    alice.c.send({ kind: 'receipt', id, to: BOB, participant: BOB_DEVS[1], type: 'retry', retry: { count: 1, t: m1.t }, registration: alice.device.registrationId });
    expect(await alice.c.wait((s) => s.kind === 'ack' && s.class === 'receipt' && s.id === id)).toMatchObject({ type: 'retry', to: BOB });
    const m2 = (await alice.c.wait((s) => s.kind === 'message' && s.id === id)) as IncomingMessage;
    expect(m2.enc.count).toBe(1);
    expect(m2.enc.type).toBe('pkmsg');
    await alice.device.dropSession(BOB_DEVS[1]!);
    const content = decodeContent(await alice.device.decrypt(BOB_DEVS[1]!, m2.enc));
    expect(content).toMatchObject({ id, text: 'from bob' });
    alice.c.send({ kind: 'ack', class: 'message', id, to: BOB });
    const receipts = (await control(h, 'GET', `/control/users/${BOB}/receipts`)).json['receipts'] as Array<Record<string, unknown>>;
    expect(receipts.some((r) => r['id'] === id && r['type'] === 'retry' && r['count'] === 1)).toBe(true);
  });

  it('holds delivery while routing is stopped and injects error acks', async () => {
    await control(h, 'DELETE', `/control/users/${BOB}/inbox`);
    await control(h, 'PUT', '/control/faults', { stop_routing_for_s: 60 });
    const held = await sendText(alice, BOB, [0, 3], 'held');
    expect(held.error).toBeUndefined();
    await new Promise((r) => setTimeout(r, 150));
    expect(await inbox(h, BOB)).toHaveLength(0);
    await control(h, 'DELETE', '/control/faults');
    const got = await until(async () => {
      const m = await inbox(h, BOB);
      return m.length === 2 ? m : undefined;
    });
    expect(got.every((m) => m['offline'] === true && m['decrypted'] === true)).toBe(true);

    await control(h, 'PUT', '/control/faults', { error: { rate: 1, code: 429, retry_after: 3 } });
    expect(await sendText(alice, BOB, [0, 3], 'limited')).toMatchObject({ error: 429, reason: 'rate-limited', retryAfter: 3 });
    await control(h, 'PUT', '/control/faults', { ack_delay_ms: 200 });
    const before = Date.now();
    await sendText(alice, BOB, [0, 3], 'slow');
    expect(Date.now() - before).toBeGreaterThanOrEqual(190);
    await control(h, 'DELETE', '/control/faults');
  });

  it('records client receipts (with <list>) for the hub user and acks them exactly', async () => {
    alice.c.send({ kind: 'receipt', id: 'aaaaaaaa01', to: BOB, type: 'read', list: ['aaaaaaaa02', 'aaaaaaaa03'] });
    const ack = (await alice.c.wait((s) => s.kind === 'ack' && s.class === 'receipt' && s.id === 'aaaaaaaa01')) as AckStanza;
    expect(ack).toMatchObject({ type: 'read', to: BOB });
    expect(ack.error).toBeUndefined();
    alice.c.send({ kind: 'receipt', id: 'aaaaaaaa04', to: CAROL, type: 'delivery' });
    expect(await alice.c.wait((s) => s.kind === 'ack' && s.id === 'aaaaaaaa04')).toMatchObject({ error: 403, reason: 'not-opted-in' });
    const receipts = (await control(h, 'GET', `/control/users/${BOB}/receipts`)).json['receipts'] as Array<Record<string, unknown>>;
    expect(receipts.filter((r) => r['type'] === 'read').map((r) => r['id'])).toEqual(['aaaaaaaa01', 'aaaaaaaa02', 'aaaaaaaa03']);
  });

  it('drops content whose id differs from the stanza (no receipts)', async () => {
    await control(h, 'DELETE', `/control/users/${BOB}/inbox`);
    const id = newId();
    const t = nowS();
    const participants = await encryptForDevices(alice, [deviceAddress(BOB, 0), deviceAddress(BOB, 3)], { id: 'relabelled', t, text: 'x' });
    alice.c.send({ kind: 'message', id, to: BOB, type: 'text', t, dhash: computeDhash(BOB_DEVS), participants });
    await alice.c.wait((s) => s.kind === 'ack' && s.id === id);
    const got = await until(async () => {
      const m = await inbox(h, BOB);
      return m.length === 2 ? m : undefined;
    });
    expect(got.every((m) => m['error'] === 'content-id-mismatch')).toBe(true);
    await new Promise((r) => setTimeout(r, 100));
    expect(alice.c.received.some((s) => s.kind === 'receipt' && s.id === id)).toBe(false);
  });
});
