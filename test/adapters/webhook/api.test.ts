// The webhook adapter's provider API, happy paths: every endpoint reaches the core with the right
// arguments and answers the documented JSON; idempotence; bearer authentication on every route.
import { Hono } from 'hono';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { createWebhookConnector } from '../../../adapters/webhook/index.ts';
import { testRedis } from '../../support/redis.ts';
import { API_TOKEN, AUTH, FakeCore, newKeyring, silentLogger, webhookConfig } from './support.ts';

const r = testRedis();
afterAll(() => r.cleanup());

let core: FakeCore;
let app: ReturnType<NonNullable<ReturnType<typeof createWebhookConnector>['routes']>>;
beforeEach(() => {
  core = new FakeCore();
  const connector = createWebhookConnector({ id: 'birdy-api', config: webhookConfig(), redis: r.redis, keyring: newKeyring(), prefix: r.prefix, logger: silentLogger });
  connector.init(core);
  app = connector.routes?.() as typeof app;
});

const json = (body: unknown, headers: Record<string, string> = {}) => ({
  method: 'POST',
  headers: { ...AUTH, 'content-type': 'application/json', ...headers },
  body: JSON.stringify(body),
});

describe('POST /v1/messages', () => {
  it('queues a message to a hub address through core.submit (202)', async () => {
    const res = await app.request('/v1/messages', json({ from: 'alice', to: '447700900123@hub', text: 'Hello', reply_to: { id: 'ABCDEF0123', sender: '447700900123@hub' } }, { 'idempotency-key': 'order-1' }));
    expect(res.status).toBe(202);
    expect(await res.json()).toEqual({ message_id: 'MSG00000001', status: 'queued', duplicate: false });
    expect(core.called('submit')).toEqual([
      { fn: 'submit', adapterId: 'birdy-api', m: { idempotencyKey: 'order-1', from: 'alice', to: '447700900123@hub', text: 'Hello', replyTo: { id: 'ABCDEF0123', sender: '447700900123@hub' } } },
    ]);
  });

  it('resolves a phone number with core.lookup first', async () => {
    const res = await app.request('/v1/messages', json({ from: 'alice', to: '+447700900123', text: 'Hi' }, { 'idempotency-key': 'k-phone' }));
    expect(res.status).toBe(202);
    expect(core.called('lookup')).toEqual([{ fn: 'lookup', user: 'alice', phone: '+447700900123' }]);
    expect(core.called('submit')[0]).toMatchObject({ m: { to: '447700900123@hub' } });
  });

  it('answers 422 naming `to` for a number nobody reachable has, and queues nothing', async () => {
    const res = await app.request('/v1/messages', json({ from: 'alice', to: '+15550000000', text: 'Hi' }, { 'idempotency-key': 'k-unknown' }));
    expect(res.status).toBe(422);
    expect(await res.json()).toMatchObject({ issues: [{ field: 'to', in: 'body' }] });
    expect(core.called('submit')).toEqual([]);
  });

  it('is idempotent: the same key twice gives the same message_id, duplicate: true', async () => {
    const body = { from: 'alice', to: '447700900123@hub', text: 'once' };
    const a = await (await app.request('/v1/messages', json(body, { 'idempotency-key': 'same-key' }))).json();
    const b = await app.request('/v1/messages', json(body, { 'idempotency-key': 'same-key' }));
    expect(b.status).toBe(202);
    const bj = await b.json();
    expect(a).toMatchObject({ duplicate: false });
    expect(bj).toEqual({ message_id: (a as { message_id: string }).message_id, status: 'queued', duplicate: true });
    const other = await (await app.request('/v1/messages', json(body, { 'idempotency-key': 'other-key' }))).json();
    expect((other as { message_id: string }).message_id).not.toBe((a as { message_id: string }).message_id);
  });

  it('answers a repeat addressed by phone from the core record, without a second lookup', async () => {
    const body = { from: 'alice', to: '+447700900123', text: 'once' };
    const a = (await (await app.request('/v1/messages', json(body, { 'idempotency-key': 'phone-key' }))).json()) as { message_id: string };
    core.phones.clear(); // the number became unreachable meanwhile
    const b = await app.request('/v1/messages', json(body, { 'idempotency-key': 'phone-key' }));
    expect(b.status).toBe(202);
    expect(await b.json()).toEqual({ message_id: a.message_id, status: 'queued', duplicate: true });
    expect(core.called('lookup')).toHaveLength(1);
    expect(core.called('submit')).toHaveLength(1);
  });
});

describe('GET /v1/messages/{ref}', () => {
  it('returns the status history by idempotency key or message id', async () => {
    await app.request('/v1/messages', json({ from: 'alice', to: '447700900123@hub', text: 'x' }, { 'idempotency-key': 'hist-1' }));
    core.addStatus('hist-1', { state: 'sent' });
    core.addStatus('hist-1', { state: 'delivered', device: '447700900123:3@hub' });
    const byKey = await app.request('/v1/messages/hist-1', { headers: AUTH });
    expect(byKey.status).toBe(200);
    const body = (await byKey.json()) as { message_id: string; statuses: Array<Record<string, unknown>> };
    expect(body.message_id).toBe('MSG00000001');
    expect(body.statuses.map((s) => s.state)).toEqual(['queued', 'sent', 'delivered']);
    expect(body.statuses[2]).toEqual({
      message_id: 'MSG00000001', idempotency_key: 'hist-1', from: 'alice', to: '447700900123@hub',
      state: 'delivered', at: new Date(1_763_800_002_000).toISOString(), device: '447700900123:3@hub',
    });
    const byId = await app.request('/v1/messages/MSG00000001', { headers: AUTH });
    expect(await byId.json()).toEqual(body);
  });

  it('answers 404 JSON for an unknown message', async () => {
    const res = await app.request('/v1/messages/nope-nope', { headers: AUTH });
    expect(res.status).toBe(404);
    expect(await res.json()).toEqual({ error: 'unknown message' });
  });
});

describe('other endpoints', () => {
  it('PUT /v1/users/{id}/interop enables and disables', async () => {
    const on = await app.request('/v1/users/alice.b=1/interop', { ...json({ enabled: true }), method: 'PUT' });
    expect(on.status).toBe(200);
    expect(await on.json()).toEqual({ user: 'alice.b=1', enabled: true });
    await app.request('/v1/users/alice.b=1/interop', { ...json({ enabled: false }), method: 'PUT' });
    expect(core.called('setInterop')).toEqual([
      { fn: 'setInterop', adapterId: 'birdy-api', user: 'alice.b=1', enabled: true },
      { fn: 'setInterop', adapterId: 'birdy-api', user: 'alice.b=1', enabled: false },
    ]);
  });

  it('GET /v1/directory finds a reachable number, and gives one 404 for anything else', async () => {
    const ok = await app.request('/v1/directory?user=alice&phone=%2B447700900123', { headers: AUTH });
    expect(ok.status).toBe(200);
    expect(await ok.json()).toEqual({ jid: '447700900123@hub' });
    // An unencoded "+" (decoded as a space) is taken for the "+" it was.
    expect((await app.request('/v1/directory?user=alice&phone=+447700900123', { headers: AUTH })).status).toBe(200);
    const missing = await app.request('/v1/directory?user=alice&phone=%2B15550000000', { headers: AUTH });
    expect(missing.status).toBe(404);
    expect(await missing.json()).toEqual({ error: 'not found' });
    expect(core.called('lookup').map((c) => c.fn === 'lookup' && c.phone)).toEqual(['+447700900123', '+447700900123', '+15550000000']);
  });

  it('POST /v1/receipts marks hub messages read', async () => {
    const res = await app.request('/v1/receipts', json({ user: 'alice', peer: '447700900123@hub', message_ids: ['8F2A11C0', '8F2A11C1'], type: 'read' }));
    expect(res.status).toBe(202);
    expect(await res.json()).toEqual({ accepted: 2 });
    expect(core.called('markRead')).toEqual([{ fn: 'markRead', user: 'alice', peer: '447700900123@hub', ids: ['8F2A11C0', '8F2A11C1'], type: 'read' }]);
  });

  it('honours a custom path prefix', async () => {
    const c = createWebhookConnector({ id: 'x', config: webhookConfig({ path_prefix: '/api/causeway' }), redis: r.redis, keyring: newKeyring(), prefix: r.prefix, logger: silentLogger });
    c.init(core);
    const res = await c.routes?.().request('/api/causeway/receipts', json({ user: 'alice', peer: '447700900123@hub', message_ids: ['8F2A11C0'], type: 'played' }));
    expect(res?.status).toBe(202);
    expect((await c.routes?.().request('/v1/receipts', json({})))?.status).toBe(404);
  });

  it('answers 500 JSON without details when the core fails', async () => {
    core.markRead = async () => {
      throw new Error('redis is down at 10.0.0.7');
    };
    const res = await app.request('/v1/receipts', json({ user: 'alice', peer: '447700900123@hub', message_ids: ['8F2A11C0'], type: 'read' }));
    expect(res.status).toBe(500);
    expect(await res.json()).toEqual({ error: 'internal error' });
  });

  it('answers unknown routes under the prefix with 404 JSON (after authentication)', async () => {
    const res = await app.request('/v1/nothing-here', { headers: AUTH });
    expect(res.status).toBe(404);
    expect(await res.json()).toEqual({ error: 'not found' });
    expect((await app.request('/v1/nothing-here')).status).toBe(401);
  });

  it('answers 503 before the core is attached', async () => {
    const c = createWebhookConnector({ id: 'x', config: webhookConfig(), redis: r.redis, keyring: newKeyring(), prefix: r.prefix, logger: silentLogger });
    const res = await c.routes?.().request('/v1/directory?user=alice&phone=%2B447700900123', { headers: AUTH });
    expect(res?.status).toBe(503);
  });
});

describe('authentication', () => {
  const routes: Array<[string, string]> = [
    ['POST', '/v1/messages'], ['GET', '/v1/messages/abc'], ['PUT', '/v1/users/alice/interop'],
    ['GET', '/v1/directory?user=alice&phone=%2B447700900123'], ['POST', '/v1/receipts'], ['GET', '/openapi.json'], ['GET', '/v1/openapi.json'],
  ];

  it('answers 401 on every route without a token or with a wrong one, and never calls the core', async () => {
    for (const [method, path] of routes) {
      for (const headers of [{}, { authorization: 'Bearer wrong-token' }, { authorization: `Basic ${API_TOKEN}` }] as Array<Record<string, string>>) {
        const res = await app.request(path, { method, headers: { ...headers, 'content-type': 'application/json', 'idempotency-key': 'k' }, ...(method === 'GET' ? {} : { body: '{}' }) });
        expect(res.status, `${method} ${path}`).toBe(401);
        expect(res.headers.get('www-authenticate')).toMatch(/^Bearer realm=/);
      }
    }
    expect(core.calls).toEqual([]);
  });

  it('accepts every configured token (rotation)', async () => {
    const res = await app.request('/openapi.json', { headers: { authorization: 'Bearer second-token-for-rotation' } });
    expect(res.status).toBe(200);
  });

  it('mounted on the sidecar app, guards only its own paths', async () => {
    const sidecar = new Hono();
    sidecar.get('/healthz', (c) => c.json({ ok: true }));
    sidecar.route('/', app);
    expect((await sidecar.request('/healthz')).status).toBe(200);
    expect((await sidecar.request('/v1/receipts', { method: 'POST' })).status).toBe(401);
    expect((await sidecar.request('/openapi.json', { headers: AUTH })).status).toBe(200);
  });
});

describe('POST /v1/users/{id}/safety-number', () => {
  it('passes the acknowledgement to the core, and refuses a bad peer without calling it', async () => {
    const res = await app.request('/v1/users/alice/safety-number', json({ peer: '447700900123@hub' }));
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ user: 'alice', peer: '447700900123@hub', released: true });
    expect(core.called('acknowledgeIdentity')).toEqual([{ fn: 'acknowledgeIdentity', user: 'alice', peer: '447700900123@hub' }]);
    const bad = await app.request('/v1/users/alice/safety-number', json({ peer: '+447700900123' }));
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { issues: Array<{ field: string }> }).issues[0]?.field).toBe('peer');
    expect(core.called('acknowledgeIdentity')).toHaveLength(1);
    expect((await app.request('/v1/users/alice/safety-number', { method: 'POST', body: '{}' })).status).toBe(401);
  });
});
