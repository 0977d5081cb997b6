// Session-level rules of spec 2 and 3 against a running mock hub.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import type { AckStanza, FailureStanza } from '../../src/protocol/index.ts';
import type { MockHub } from '../../src/mock-hub/index.ts';
import { RawClient, birdyHub, control, nowS, token } from './helpers.ts';
import type { ProviderKeys } from './helpers.ts';

const A = 'alice@birdy.interop';

function upgradeStatus(url: string, protocols: string[]): Promise<number> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, protocols);
    ws.on('unexpected-response', (_req, res) => {
      resolve(res.statusCode ?? 0);
      res.resume();
      ws.terminate();
    });
    ws.on('open', () => {
      ws.close();
      resolve(101);
    });
    ws.on('error', (err) => {
      if (!String(err).includes('Unexpected server response')) reject(err);
    });
  });
}

describe('sessions (spec 2, 3)', () => {
  let h: MockHub;
  let keys: ProviderKeys;
  beforeAll(async () => {
    ({ h, keys } = await birdyHub({ limits: { max_frame_bytes: 4096 } }));
  });
  afterAll(() => h.close());

  it('refuses an upgrade without subprotocol hip.1 (400), other paths (404), and while refusing (503)', async () => {
    expect(await upgradeStatus(h.wsUrl, ['chat'])).toBe(400);
    expect(await upgradeStatus(h.wsUrl.replace('/hip/v1/session', '/other'), ['hip.1'])).toBe(404);
    expect(await upgradeStatus(h.wsUrl, ['hip.1'])).toBe(101);
    expect((await control(h, 'PUT', '/control/faults', { refuse_sessions_for_s: 30 })).status).toBe(200);
    expect(await upgradeStatus(h.wsUrl, ['hip.1'])).toBe(503);
    await control(h, 'DELETE', '/control/faults');
    expect(await upgradeStatus(h.wsUrl, ['hip.1'])).toBe(101);
  });

  it('opens with a good token and fails bad opens with the right codes', async () => {
    const ok = await RawClient.open(h, keys, A);
    ok.close();

    const cases: Array<[string, number, string | undefined]> = [];
    const notOpen = await RawClient.connect(h.wsUrl);
    notOpen.send({ kind: 'close' });
    cases.push(['not open', await notOpen.closed, (notOpen.received[0] as FailureStanza | undefined)?.reason]);

    const badToken = await RawClient.connect(h.wsUrl);
    badToken.send({ kind: 'open', user: A, token: await token(keys, { sub: A, aud: 'elsewhere' }) });
    cases.push(['bad token', await badToken.closed, (badToken.received[0] as FailureStanza | undefined)?.reason]);

    const unknown = await RawClient.connect(h.wsUrl);
    unknown.send({ kind: 'open', user: 'zed@nowhere.interop', token: await token(keys, { sub: 'zed@nowhere.interop' }) });
    cases.push(['unknown provider', await unknown.closed, (unknown.received[0] as FailureStanza | undefined)?.reason]);

    const garbage = await RawClient.connect(h.wsUrl);
    garbage.sendRaw('<open user="x"');
    cases.push(['not well-formed', await garbage.closed, undefined]);

    const doctype = await RawClient.connect(h.wsUrl);
    doctype.sendRaw('<!DOCTYPE x><open user="alice@birdy.interop" token="x"/>');
    cases.push(['doctype before opened', await doctype.closed, undefined]);

    expect(cases).toEqual([
      ['not open', 4401, 'not-authorized'],
      ['bad token', 4401, 'not-authorized'],
      ['unknown provider', 4403, 'unknown-provider'],
      ['not well-formed', 1007, undefined],
      ['doctype before opened', 1007, undefined],
    ]);
  });

  it('replaces an older session of the same user (conflict, 4409)', async () => {
    const replacedBefore = (await control(h, 'GET', '/control/stats')).json['sessions_replaced'] as number;
    const first = await RawClient.open(h, keys, A);
    const second = await RawClient.open(h, keys, A);
    expect(await first.closed).toBe(4409);
    expect(first.received.some((s) => s.kind === 'failure' && s.reason === 'conflict')).toBe(true);
    expect((await control(h, 'GET', `/control/provider-users/${A}`)).json['session_open']).toBe(true);
    expect((await control(h, 'GET', '/control/stats')).json['sessions_replaced']).toBe(replacedBefore + 1);
    second.close();
    await second.closed;
  });

  it('answers bad frames after opened and keeps the session, closes on binary and oversized frames', async () => {
    const c = await RawClient.open(h, keys, A);
    c.sendRaw('<!DOCTYPE x><message id="abcdefgh12" to="447700900123@hub" type="text"/>');
    const a1 = (await c.wait((s) => s.kind === 'ack')) as AckStanza;
    expect(a1).toMatchObject({ class: 'message', error: 400, reason: 'bad-request' });
    c.sendRaw('<hello id="abcdefgh13"/>');
    const a2 = (await c.wait((s) => s.kind === 'ack')) as AckStanza;
    expect(a2).toMatchObject({ class: 'unknown', id: 'abcdefgh13', error: 400, reason: 'unrecognized-stanza' });
    expect(await c.iq('get', { xmlns: 'interop', op: 'status' })).toMatchObject({ type: 'result' });
    c.sendRaw('<iq id="x1"');
    expect(await c.closed).toBe(1007);

    const b = await RawClient.open(h, keys, A);
    b.sendRaw(Buffer.from([1, 2, 3]), true);
    expect(await b.closed).toBe(1003);

    const big = await RawClient.open(h, keys, A);
    big.sendRaw(`<iq id="big00001" type="get" xmlns="features">${' '.repeat(5000)}</iq>`);
    expect(await big.closed).toBe(1009);
  });

  it('delisting the provider closes its sessions with 4403 and refuses new ones', async () => {
    const c = await RawClient.open(h, keys, A);
    expect((await control(h, 'DELETE', '/control/providers/birdy')).status).toBe(200);
    expect(await c.closed).toBe(4403);
    expect(c.received.some((s) => s.kind === 'failure' && s.reason === 'delisted')).toBe(true);
    const again = await RawClient.connect(h.wsUrl);
    again.send({ kind: 'open', user: A, token: await token(keys, { sub: A, iat: nowS() }) });
    expect(await again.closed).toBe(4403);
    // re-enrolment lets the provider in again
    expect((await control(h, 'POST', '/control/providers', { id: 'birdy', name: 'Birdy', jwks: { keys: [keys.publicJwk] } })).status).toBe(201);
    const back = await RawClient.open(h, keys, A);
    back.close();
  });
});

describe('idle sessions', () => {
  it('sends <close reason="idle"/> and closes after idle_timeout_s', async () => {
    const { h, keys } = await birdyHub({ limits: { idle_timeout_s: 1, ping_interval_s: 1, ping_timeout_s: 5 } });
    try {
      const c = await RawClient.open(h, keys, A);
      const started = Date.now();
      expect(await c.closed).toBe(1000);
      expect(Date.now() - started).toBeGreaterThanOrEqual(900);
      expect(c.received.some((s) => s.kind === 'close' && s.reason === 'idle')).toBe(true);
    } finally {
      await h.close();
    }
  });
});
