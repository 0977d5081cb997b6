// The control API's contract: auth, body validation with a field, 404/409, and the user routes.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { computeDhash } from '../../src/protocol/index.ts';
import type { IncomingMessage } from '../../src/protocol/index.ts';
import type { MockHub } from '../../src/mock-hub/index.ts';
import { birdyHub, control, party } from './helpers.ts';
import type { ProviderKeys } from './helpers.ts';

describe('control API', () => {
  let h: MockHub;
  let keys: ProviderKeys;
  beforeAll(async () => {
    ({ h, keys } = await birdyHub({ limits: { redeliver_after_s: 1 } }));
  });
  afterAll(() => h.close());

  it('needs the bearer token', async () => {
    for (const auth of [undefined, 'Bearer wrong', 'Basic x']) {
      const r = await fetch(`${h.url}/control/stats`, auth === undefined ? {} : { headers: { authorization: auth } });
      expect(r.status).toBe(401);
      expect(await r.json()).toEqual({ error: 'unauthorized' });
    }
  });

  it('creates, reads and changes users, naming bad fields', async () => {
    expect(await control(h, 'POST', '/control/users', { phone: 'nope' })).toMatchObject({ status: 400, json: { field: 'phone' } });
    expect(await control(h, 'POST', '/control/users', { phone: '+15550000001', devices: [-1] })).toMatchObject({ status: 400, json: { field: 'devices.0' } });
    expect(await control(h, 'POST', '/control/users', { phone: '+15550000001', name: 'Bob', devices: [0, 3] })).toEqual({ status: 201, json: { jid: '15550000001@hub', devices: [0, 3] } });
    expect((await control(h, 'POST', '/control/users', { phone: '15550000001' })).status).toBe(409);
    const u = await control(h, 'GET', '/control/users/+15550000001');
    expect(u.json).toMatchObject({
      jid: '15550000001@hub', phone: '+15550000001', name: 'Bob', third_party: { enabled: true, providers: ['*'] }, blocked: [],
      script: { echo: false, receipts: true, read: false, delay_ms: 0 },
    });
    const devices = u.json['devices'] as Array<{ id: number; identity: string }>;
    expect(devices.map((d) => d.id)).toEqual([0, 3]);
    expect(Buffer.from(devices[0]!.identity, 'base64')).toHaveLength(33);
    expect((await control(h, 'GET', '/control/users/15559999999@hub')).status).toBe(404);

    expect(await control(h, 'POST', '/control/users/15550000001@hub/devices', { device: 3 })).toMatchObject({ status: 409 });
    expect(await control(h, 'POST', '/control/users/15550000001@hub/devices', { device: 10 })).toEqual({
      status: 201, json: { device: 10, dhash: computeDhash(['15550000001:0@hub', '15550000001:10@hub', '15550000001:3@hub']) },
    });
    expect((await control(h, 'DELETE', '/control/users/15550000001@hub/devices/7')).status).toBe(404);
    expect(await control(h, 'DELETE', '/control/users/15550000001@hub/devices/10')).toEqual({ status: 200, json: { dhash: computeDhash(['15550000001:0@hub', '15550000001:3@hub']) } });

    expect(await control(h, 'PUT', '/control/users/15550000001@hub/script', { echo: true, delay_ms: 'x' })).toMatchObject({ status: 400, json: { field: 'delay_ms' } });
    expect(await control(h, 'PUT', '/control/users/15550000001@hub/script', { echo: true })).toMatchObject({ json: { script: { echo: true, receipts: true } } });
    expect(await control(h, 'POST', '/control/users/15550000001@hub/block', {})).toMatchObject({ status: 400, json: { field: 'user' } });
    expect(await control(h, 'POST', '/control/users/15550000001@hub/block', { provider: 'haiket' })).toMatchObject({ json: { blocked: ['haiket'] } });
    expect(await control(h, 'PUT', '/control/faults', { drop_acks_rate: 2 })).toMatchObject({ status: 400, json: { field: 'drop_acks_rate' } });
    expect(await control(h, 'POST', '/control/users/15550000001@hub/send', { to: 'alice@birdy.interop', text: 'x' })).toMatchObject({ status: 404, json: { error: 'no-such-user' } });
    expect((await control(h, 'GET', '/control/provider-users/alice@birdy.interop')).status).toBe(404);
    expect((await fetch(`${h.url}/control/users`, { method: 'POST', headers: { authorization: 'Bearer admin-token-for-tests' }, body: '{' })).status).toBe(400);
  });

  it('redelivers an unacked message on the same session after redeliver_after_s', async () => {
    const alice = await party(h, keys, 'alice@birdy.interop');
    const sent = await control(h, 'POST', '/control/users/15550000001@hub/send', { to: alice.jid, text: 'again?' });
    expect(sent.status).toBe(201);
    const first = (await alice.c.wait((s) => s.kind === 'message')) as IncomingMessage;
    const t0 = Date.now();
    const second = (await alice.c.wait((s) => s.kind === 'message', 4000)) as IncomingMessage;
    expect(Date.now() - t0).toBeGreaterThanOrEqual(500);
    expect(second.id).toBe(first.id);
    alice.c.send({ kind: 'ack', class: 'message', id: first.id, to: first.from });
    await new Promise((r) => setTimeout(r, 1500));
    expect(alice.c.received.some((s) => s.kind === 'message')).toBe(false);
    expect((await control(h, 'GET', '/control/provider-users/alice@birdy.interop')).json).toMatchObject({ offline: 0, session_open: true });
    alice.c.close();
  });
});
