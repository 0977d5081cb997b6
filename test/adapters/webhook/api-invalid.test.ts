// Bad input on every endpoint of the webhook adapter's API: each is answered 4xx with a JSON error
// naming the field, and the core is not called (nothing is queued).
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MAX_BODY_BYTES } from '../../../adapters/webhook/http.ts';
import { testRedis } from '../../support/redis.ts';
import { apiOnFakeCore, AUTH, fields, type Api, type ErrorBody, type FakeCore } from './support.ts';

const r = testRedis();
afterAll(() => r.cleanup());

let core: FakeCore;
let app: Api;
beforeEach(() => {
  ({ core, app } = apiOnFakeCore('birdy-api', r));
});
afterEach(() => {
  // Whatever a test sent, an invalid request never reaches the core's write side.
  expect(core.writes()).toEqual([]);
});

async function send(method: string, path: string, body: unknown, headers: Record<string, string> = {}): Promise<{ status: number; body: ErrorBody }> {
  const res = await app.request(path, {
    method,
    headers: { ...AUTH, 'content-type': 'application/json', ...headers },
    ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
  });
  return { status: res.status, body: (await res.json()) as ErrorBody };
}

const good = { from: 'alice', to: '447700900123@hub', text: 'hello' };
const KEY = { 'idempotency-key': 'key-1' };

describe('POST /v1/messages rejects', () => {
  const cases: Array<[string, unknown, string[]]> = [
    ['a missing from', { to: good.to, text: 'x' }, ['from']],
    ['an uppercase from', { ...good, from: 'Alice' }, ['from']],
    ['a to that is neither address nor phone', { ...good, to: '0447700900123@hub' }, ['to']],
    ['a provider address as to', { ...good, to: 'bob@birdy.interop' }, ['to']],
    ['a number as to', { ...good, to: 447700900123 }, ['to']],
    ['a missing text', { from: 'alice', to: good.to }, ['text']],
    ['an empty text', { ...good, text: '' }, ['text']],
    ['a text with an unpaired surrogate', { ...good, text: 'a\ud800b' }, ['text']],
    ['a text of more than 65,536 code points', { ...good, text: '😀'.repeat(65_537) }, ['text']],
    ['a bad reply_to.id', { ...good, reply_to: { id: 'short', sender: '447700900123@hub' } }, ['reply_to.id']],
    ['a missing reply_to.sender', { ...good, reply_to: { id: 'ABCDEF0123' } }, ['reply_to.sender']],
    ['an unknown field', { ...good, colour: 'red' }, ['colour']],
    ['an unknown nested field', { ...good, reply_to: { id: 'ABCDEF0123', sender: '447700900123@hub', x: 1 } }, ['reply_to.x']],
    ['an array body', [good], ['(body)']],
    ['several problems at once', { from: 1, to: 'nobody', text: '' }, ['from', 'text', 'to']],
    ['an unknown feature', { ...good, feature: { name: 'hologram', data: {} } }, ['feature.name']],
    ['a poll with one option', { from: 'alice', to: good.to, feature: { name: 'poll', data: { question: 'lunch?', options: ['yes'] } } }, ['feature.data.options']],
    ['a location without longitude', { from: 'alice', to: good.to, feature: { name: 'location', data: { latitude: 1 } } }, ['feature.data.longitude']],
  ];
  for (const [what, body, expected] of cases) {
    it(what, async () => {
      const res = await send('POST', '/v1/messages', body, KEY);
      expect(res.status).toBe(400);
      expect(res.body.error).toBe('invalid request');
      expect(fields(res.body)).toEqual(expected);
    });
  }

  it('a missing field says "required"', async () => {
    const res = await send('POST', '/v1/messages', { to: good.to, text: 'x' }, KEY);
    expect(res.body.issues).toEqual([{ field: 'from', in: 'body', message: 'required' }]);
  });

  it('a missing or bad Idempotency-Key, named as a header', async () => {
    for (const key of [undefined, '', 'x'.repeat(129), 'naïve-key', 'tab\tkey', 'line\u0001break']) {
      const res = await send('POST', '/v1/messages', good, key === undefined ? {} : { 'idempotency-key': key });
      expect(res.status, JSON.stringify(key)).toBe(400);
      expect(res.body.issues).toEqual([expect.objectContaining({ field: 'Idempotency-Key', in: 'header' })]);
    }
    expect((await send('POST', '/v1/messages', good, { 'idempotency-key': 'x'.repeat(128) })).status).toBe(202);
    core.calls.length = 0; // that one was valid
  });

  it('reports the key and the body together', async () => {
    const res = await send('POST', '/v1/messages', { ...good, text: 5 }, {});
    expect(fields(res.body)).toEqual(['Idempotency-Key', 'text']);
  });

  it('bad JSON (400, field "(body)")', async () => {
    const res = await send('POST', '/v1/messages', '{"from": "alice",', KEY);
    expect(res.status).toBe(400);
    expect(res.body.issues).toEqual([expect.objectContaining({ field: '(body)', in: 'body' })]);
  });

  it('a wrong or missing content type (415)', async () => {
    for (const type of ['text/plain', 'application/x-www-form-urlencoded', 'application/json; charset=latin1', '']) {
      const res = await send('POST', '/v1/messages', good, { ...KEY, 'content-type': type });
      expect(res.status, type).toBe(415);
      expect(res.body.issues?.[0]?.field).toBe('Content-Type');
    }
    expect((await send('POST', '/v1/messages', good, { ...KEY, 'content-type': 'application/json; charset=UTF-8' })).status).toBe(202);
    core.calls.length = 0;
  });

  it('an oversized body (413), with or without Content-Length', async () => {
    const big = JSON.stringify({ ...good, text: 'a'.repeat(MAX_BODY_BYTES) });
    const res = await send('POST', '/v1/messages', big, KEY);
    expect(res.status).toBe(413);
    const stream = new ReadableStream<Uint8Array>({
      start(c) {
        c.enqueue(new TextEncoder().encode(big));
        c.close();
      },
    });
    const chunked = await app.request('/v1/messages', { method: 'POST', headers: { ...AUTH, ...KEY, 'content-type': 'application/json' }, body: stream, duplex: 'half' } as RequestInit);
    expect(chunked.status).toBe(413);
  });
});

describe('the other endpoints reject', () => {
  it('GET /v1/messages/{ref} with a bad ref', async () => {
    const res = await send('GET', `/v1/messages/${'x'.repeat(129)}`, undefined);
    expect(res.status).toBe(400);
    expect(res.body.issues).toEqual([expect.objectContaining({ field: 'ref', in: 'path' })]);
  });

  it('PUT /v1/users/{id}/interop with a bad id, a bad body, JSON errors and content types', async () => {
    const badId = await send('PUT', '/v1/users/Alice/interop', { enabled: true });
    expect(fields(badId.body)).toEqual(['id']);
    expect(badId.body.issues?.[0]?.in).toBe('path');
    for (const [body, expected] of [[{}, ['enabled']], [{ enabled: 'yes' }, ['enabled']], [{ enabled: true, extra: 1 }, ['extra']], [null, ['(body)']]] as const) {
      const res = await send('PUT', '/v1/users/alice/interop', body);
      expect(res.status).toBe(400);
      expect(fields(res.body)).toEqual(expected);
    }
    expect((await send('PUT', '/v1/users/alice/interop', 'nope')).status).toBe(400);
    expect((await send('PUT', '/v1/users/alice/interop', { enabled: true }, { 'content-type': 'text/plain' })).status).toBe(415);
    expect((await send('PUT', '/v1/users/alice/interop', JSON.stringify({ enabled: true, pad: 'a'.repeat(MAX_BODY_BYTES) }))).status).toBe(413);
  });

  it('GET /v1/directory with missing, bad or unknown parameters', async () => {
    const cases: Array<[string, string[]]> = [
      ['', ['phone', 'user']],
      ['?user=alice', ['phone']],
      ['?user=alice&phone=447700900123', ['phone']],
      ['?user=alice&phone=%2B0447700900123', ['phone']],
      ['?user=ALICE&phone=%2B447700900123', ['user']],
      ['?user=alice&phone=%2B447700900123&debug=1', ['debug']],
    ];
    for (const [query, expected] of cases) {
      const res = await send('GET', `/v1/directory${query}`, undefined);
      expect(res.status, query).toBe(400);
      expect(fields(res.body), query).toEqual(expected);
      expect(res.body.issues?.every((i) => i.in === 'query')).toBe(true);
    }
    expect(core.called('lookup')).toEqual([]);
  });

  it('POST /v1/receipts with bad fields', async () => {
    const ok = { user: 'alice', peer: '447700900123@hub', message_ids: ['8F2A11C0'], type: 'read' };
    const cases: Array<[unknown, string[]]> = [
      [{ ...ok, user: undefined }, ['user']],
      [{ ...ok, peer: 'alice@birdy.interop' }, ['peer']],
      [{ ...ok, peer: '447700900123:3@hub' }, ['peer']],
      [{ ...ok, message_ids: [] }, ['message_ids']],
      [{ ...ok, message_ids: ['8F2A11C0', 'bad id!'] }, ['message_ids[1]']],
      [{ ...ok, message_ids: Array.from({ length: 257 }, (_, i) => `MSGID${String(i).padStart(5, '0')}`) }, ['message_ids']],
      [{ ...ok, type: 'delivered' }, ['type']],
      [{ ...ok, also: true }, ['also']],
    ];
    for (const [body, expected] of cases) {
      const res = await send('POST', '/v1/receipts', body);
      expect(res.status).toBe(400);
      expect(fields(res.body)).toEqual(expected);
    }
    expect((await send('POST', '/v1/receipts', '[')).status).toBe(400);
    expect((await send('POST', '/v1/receipts', ok, { 'content-type': 'text/json' })).status).toBe(415);
  });
});
