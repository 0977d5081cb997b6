// End-to-end smoke test of the mock hub: a provider user opens a session with a minted Ed25519
// JWT, uploads real libsignal keys from a SimDevice, enlists, looks a hub user up, fetches its
// devices' bundles, sends a real pkmsg to both devices, and gets delivery receipts and the
// simulated user's decrypted echo back.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { computeDhash, decodeContent, encodeContent, newId } from '../../src/protocol/index.ts';
import type { AckStanza, IncomingMessage, ReceiptStanza, Stanza } from '../../src/protocol/index.ts';
import { SimDevice } from '../../src/mock-hub/sim-device.ts';
import type { MockHub } from '../../src/mock-hub/index.ts';
import { RawClient, control, hub, nowS, providerKeys } from './helpers.ts';
import type { ProviderKeys } from './helpers.ts';

const ALICE = 'alice@birdy.interop';
const ALICE_DEV = 'alice:1@birdy.interop';
const BOB = '447700900123@hub';

describe('mock hub smoke', () => {
  let h: MockHub;
  let keys: ProviderKeys;

  beforeAll(async () => {
    keys = await providerKeys();
    h = await hub({
      providers: [{ id: 'birdy', name: 'BirdyChat', jwks: { keys: [keys.publicJwk as Record<string, unknown>] } }],
      users: [{ phone: '+447700900123', name: 'Bob', devices: [0, 3], script: { echo: true, receipts: true, read: false, delay_ms: 0 } }],
    });
  });
  afterAll(async () => {
    await h.close();
  });

  it('healthz answers without auth, control needs the token', async () => {
    const r = await fetch(`${h.url}/healthz`);
    expect(r.status).toBe(200);
    expect(await r.json()).toEqual({ ok: true });
    expect((await fetch(`${h.url}/control/stats`)).status).toBe(401);
  });

  it('carries a real pkmsg to a simulated user and brings back its echo', async () => {
    const alice = await SimDevice.create(ALICE_DEV);
    const c = await RawClient.open(h, keys, ALICE);

    expect(await c.iq('set', alice.uploadPayload())).toMatchObject({ type: 'result' });
    expect(await c.iq('set', { xmlns: 'interop', op: 'enlist' })).toMatchObject({ type: 'result' });
    expect(await c.iq('get', { xmlns: 'interop', op: 'status' })).toMatchObject({ result: { op: 'status', enlisted: true } });
    expect(await c.iq('get', { xmlns: 'encrypt', op: 'count' })).toMatchObject({ result: { op: 'count', value: 20, kyber: 20 } });

    const look = await c.iq('get', { xmlns: 'directory', op: 'lookup', phone: '+447700900123' });
    expect(look).toMatchObject({ type: 'result', result: { op: 'lookup', jid: BOB, name: 'Bob' } });

    const devs = await c.iq('get', { xmlns: 'devices', op: 'devices', jid: BOB });
    const dhash = computeDhash(['447700900123:0@hub', '447700900123:3@hub']);
    expect(devs).toMatchObject({ type: 'result', result: { op: 'devices', list: { jid: BOB, dhash, devices: [0, 3] } } });

    const fetched = await c.iq('get', { xmlns: 'encrypt', op: 'fetch', jids: ['447700900123:0@hub', '447700900123:3@hub'] });
    if (fetched.type !== 'result' || fetched.result.op !== 'bundles') throw new Error('no bundles');
    for (const u of fetched.result.users) {
      if (!('bundle' in u)) throw new Error(`no bundle for ${u.jid}`);
      await alice.startSession(u.jid, u.bundle);
    }

    const id = newId();
    const t = nowS();
    const plaintext = encodeContent({ id, t, text: 'hello bob' });
    const participants = [];
    for (const jid of ['447700900123:0@hub', '447700900123:3@hub']) {
      const e = await alice.encrypt(jid, plaintext);
      expect(e.type).toBe('pkmsg');
      participants.push({ jid, enc: { v: 1 as const, type: e.type, ciphertext: e.ciphertext } });
    }
    c.send({ kind: 'message', id, to: BOB, type: 'text', t, dhash, participants });
    const ack = (await c.wait((s) => s.kind === 'ack' && s.id === id)) as AckStanza;
    expect(ack.error).toBeUndefined();
    expect(ack.t).toBeGreaterThanOrEqual(t);

    // one delivery receipt per device, then the echo from the primary device
    const receipts: ReceiptStanza[] = [];
    for (let i = 0; i < 2; i++) receipts.push((await c.wait((s) => s.kind === 'receipt' && s.id === id)) as ReceiptStanza);
    expect(receipts.map((r) => r.participant).sort()).toEqual(['447700900123:0@hub', '447700900123:3@hub']);
    expect(receipts.every((r) => r.type === 'delivery' && r.from === BOB)).toBe(true);
    for (const r of receipts) c.send({ kind: 'ack', class: 'receipt', id: r.id, from: BOB, ...(r.participant === undefined ? {} : { participant: r.participant }) });

    const echo = (await c.wait((s: Stanza) => s.kind === 'message')) as IncomingMessage;
    expect(echo.from).toBe(BOB);
    expect(echo.participant).toBe('447700900123:0@hub');
    // the simulated device answers on the session the pkmsg set up: no bundle fetched from the hub
    expect(echo.enc.type).toBe('msg');
    const content = decodeContent(await alice.decrypt(echo.participant, echo.enc));
    expect(content.id).toBe(echo.id);
    expect(content.text).toBe('echo: hello bob');
    c.send({ kind: 'ack', class: 'message', id: echo.id, to: BOB });

    const inbox = await control(h, 'GET', `/control/users/${BOB}/inbox`);
    const messages = inbox.json['messages'] as Array<Record<string, unknown>>;
    expect(messages).toHaveLength(2);
    for (const m of messages) expect(m).toMatchObject({ id, from: ALICE, participant: ALICE_DEV, decrypted: true, content: { text: 'hello bob' } });

    // everything acked: nothing left in the mailbox, and no one-time prekey of alice was used
    await new Promise((r) => setTimeout(r, 50));
    const pu = await control(h, 'GET', `/control/provider-users/${ALICE}`);
    expect(pu.json).toMatchObject({ jid: ALICE, enlisted: true, has_keys: true, session_open: true, offline: 0, prekeys: { ec: 20, kyber: 20 } });
    const stats = await control(h, 'GET', '/control/stats');
    expect(stats.json).toMatchObject({ sessions: 1, messages_accepted: 2, messages_delivered: 3 });
    c.close();
    await c.closed;
  });
});
