// Audit of the webhook adapter's input checks: bodies that are not UTF-8, and text the hub's
// content XML cannot carry, are refused up front (4xx naming the field, core not called) instead
// of being queued and failing later in delivery.
import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { repeatedMember } from '../../../adapters/webhook/http.ts';
import { encodeContent } from '../../../src/protocol/index.ts';
import { apiOnFakeCore, AUTH, fields, type Api, type ErrorBody, type FakeCore } from './support.ts';

let core: FakeCore;
let app: Api;
// The routes never touch Redis: apiOnFakeCore's stand-in is enough.
beforeEach(() => {
  ({ core, app } = apiOnFakeCore('api'));
});
afterEach(() => {
  expect(core.writes()).toEqual([]);
});

async function post(path: string, body: NonNullable<RequestInit['body']>, headers: Record<string, string> = {}): Promise<{ status: number; body: ErrorBody }> {
  const res = await app.request(path, { method: 'POST', headers: { ...AUTH, 'content-type': 'application/json', 'idempotency-key': 'key-1', ...headers }, body });
  return { status: res.status, body: (await res.json()) as ErrorBody };
}

const good = { from: 'alice', to: '447700900123@hub', text: 'hello' };

describe('a body that is not UTF-8', () => {
  // `{"from":"alice",…,"text":"a<FF FE>b"}`: decoding with replacement would queue "a\uFFFD\uFFFDb".
  const bytes = Buffer.concat([Buffer.from('{"from":"alice","to":"447700900123@hub","text":"a'), Buffer.from([0xff, 0xfe]), Buffer.from('b"}')]);

  it('is a 400 naming the body, and nothing is queued', async () => {
    const res = await post('/v1/messages', bytes);
    expect(res.status).toBe(400);
    expect(res.body.issues).toEqual([expect.objectContaining({ field: '(body)', in: 'body' })]);
  });

  it('is refused by the batch and interop endpoints too', async () => {
    const item = Buffer.concat([Buffer.from('{"messages":[{"idempotency_key":"k","from":"alice","to":"447700900123@hub","text":"'), Buffer.from([0xc3]), Buffer.from('"}]}')]);
    expect((await post('/v1/messages/batch', item)).status).toBe(400);
    const interop = Buffer.concat([Buffer.from('{"enabled":true,"x":"'), Buffer.from([0xed, 0xa0, 0x80]), Buffer.from('"}')]);
    expect((await app.request('/v1/users/alice/interop', { method: 'PUT', headers: { ...AUTH, 'content-type': 'application/json' }, body: interop })).status).toBe(400);
  });

  it('still accepts UTF-8 with a byte order mark and multi-byte characters', async () => {
    const res = await post('/v1/messages', Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(JSON.stringify({ ...good, text: 'héllo 😀 中文' }))]));
    expect(res.status).toBe(202);
    expect(core.called('submit')).toEqual([expect.objectContaining({ m: expect.objectContaining({ text: 'héllo 😀 中文' }) })]);
    core.calls.length = 0; // that one was valid
  });
});

describe('text the hub content cannot carry (XML 1.0 characters, spec 11)', () => {
  const bad = ['a\u0000b', 'bell\u0007', 'esc\u001b[31m', 'nonchar\uFFFE', 'nonchar\uFFFF'];

  it('is what encodeContent refuses (so delivery could never send it)', () => {
    for (const text of bad) expect(() => encodeContent({ id: 'ABCDEF0123', t: 1, text }), JSON.stringify(text)).toThrow();
  });

  it('is a 400 naming text, in a single message and in a batch item', async () => {
    for (const text of bad) {
      const one = await post('/v1/messages', JSON.stringify({ ...good, text }));
      expect(one.status, JSON.stringify(text)).toBe(400);
      expect(fields(one.body)).toEqual(['text']);
      const batch = await post('/v1/messages/batch', JSON.stringify({ messages: [{ idempotency_key: 'b1', ...good }, { idempotency_key: 'b2', ...good, text }] }));
      expect(batch.status, JSON.stringify(text)).toBe(400);
      expect(fields(batch.body)).toEqual(['messages[1].text']);
    }
  });

  it('is a 400 naming media.caption', async () => {
    const res = await post('/v1/messages', JSON.stringify({ ...good, media: { kind: 'image', mime: 'image/png', url: 'https://example.com/a.png', caption: 'cap\u0000' } }));
    expect(res.status).toBe(400);
    expect(fields(res.body)).toEqual(['media.caption']);
  });

  it('tab, newline and carriage return stay accepted', async () => {
    const res = await post('/v1/messages', JSON.stringify({ ...good, text: 'a\tb\nc\r\nd' }));
    expect(res.status).toBe(202);
    core.calls.length = 0;
  });
});

describe('a JSON object with the same member twice', () => {
  // JSON.parse keeps the last one silently: `{"enabled":true,"enabled":false}` would opt the user out.
  it('is a 400 naming the repeated member, wherever it is', async () => {
    const cases: Array<[string, string, string]> = [
      ['/v1/messages', '{"from":"alice","to":"447700900123@hub","text":"yes","text":"no"}', 'text'],
      ['/v1/messages', '{"from":"alice","to":"447700900123@hub","text":"x","reply_to":{"id":"ABCDEF0123","sender":"447700900123@hub","id":"ABCDEF0124"}}', 'reply_to.id'],
      ['/v1/messages', '{"from":"alice","to":"447700900123@hub","text":"x","t\\u0065xt":"y"}', 'text'],
      ['/v1/messages/batch', '{"messages":[{"idempotency_key":"a","from":"alice","to":"447700900123@hub","text":"x"},{"idempotency_key":"b","from":"alice","from":"bob","to":"447700900123@hub","text":"x"}]}', 'messages[1].from'],
      ['/v1/receipts', '{"user":"alice","peer":"447700900123@hub","message_ids":["8F2A11C0"],"type":"read","user":"bob"}', 'user'],
    ];
    for (const [path, body, field] of cases) {
      const res = await post(path, body);
      expect(res.status, body).toBe(400);
      expect(res.body.issues, body).toEqual([expect.objectContaining({ field, in: 'body' })]);
    }
    const interop = await app.request('/v1/users/alice/interop', { method: 'PUT', headers: { ...AUTH, 'content-type': 'application/json' }, body: '{"enabled":true,"enabled":false}' });
    expect(interop.status).toBe(400);
  });

  it('keeps accepting the same name in different objects, and look-alike strings in values', async () => {
    const body = '{"from":"alice","to":"447700900123@hub","text":"\\"text\\":1,{\\"from\\"","reply_to":{"id":"ABCDEF0123","sender":"447700900123@hub"}}';
    const res = await post('/v1/messages', body);
    expect(res.status).toBe(202);
    const batch = await post('/v1/messages/batch', JSON.stringify({ messages: [{ idempotency_key: 'a', ...good }, { idempotency_key: 'b', ...good }] }));
    expect(batch.status).toBe(200);
    core.calls.length = 0;
  });
});

describe('repeatedMember', () => {
  it('finds nothing in any JSON that JSON.stringify writes (no false refusals)', () => {
    fc.assert(fc.property(fc.jsonValue(), fc.boolean(), (v, pretty) => repeatedMember(JSON.stringify(v, null, pretty ? 2 : undefined)) === undefined), { numRuns: 500 });
  });
});
