// Audit of /openapi.json against what the routes really answer: every response below (each
// route, each status it can give) must be listed in the document for that operation, with a
// JSON schema its body validates against.
import type { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { createWebhookConnector } from '../../../adapters/webhook/index.ts';
import { RateLimitError } from '../../../src/submit-error.ts';
import { AUTH, FakeCore, newKeyring, silentLogger, webhookConfig } from './support.ts';

type Op = { responses: Record<string, { content?: Record<string, { schema: { $ref?: string } }> }> };
type Doc = { paths: Record<string, Record<string, Op>>; components: { schemas: Record<string, z.core.JSONSchema.JSONSchema> } };

function refused(field: string): Error {
  return Object.assign(new Error('refused by the core'), { name: 'SubmitError', field });
}

describe('the OpenAPI document matches the answers', () => {
  it('lists every status a route answers, with a schema its body validates against', async () => {
    const core = new FakeCore();
    const connector = createWebhookConnector({ id: 'api', config: webhookConfig(), redis: {} as Redis, keyring: newKeyring(), prefix: 'unused', logger: silentLogger });
    connector.init(core);
    const app = connector.routes?.();
    if (!app) throw new Error('no routes');
    const doc = (await (await app.request('/openapi.json', { headers: AUTH })).json()) as Doc;

    const checked: string[] = [];
    const problems: string[] = [];
    async function answer(op: string, method: string, path: string, init: { body?: NonNullable<RequestInit['body']>; headers?: Record<string, string> } = {}): Promise<number> {
      const res = await app!.request(path, { method, headers: { ...AUTH, 'content-type': 'application/json', ...init.headers }, ...(init.body !== undefined ? { body: init.body } : {}) });
      const what = `${method} ${path} → ${res.status}`;
      checked.push(what);
      const documented = doc.paths[op]?.[method.toLowerCase()]?.responses[String(res.status)];
      const ref = documented?.content?.['application/json']?.schema.$ref;
      const schema = ref ? doc.components.schemas[ref.replace('#/components/schemas/', '')] : undefined;
      if (!documented) problems.push(`${what}: status not in the document`);
      else if (!schema) problems.push(`${what}: no body schema in the document`);
      else {
        const r = z.fromJSONSchema(schema).safeParse(await res.json());
        if (!r.success) problems.push(`${what}: ${JSON.stringify(r.error.issues)}`);
      }
      return res.status;
    }

    const msg = JSON.stringify({ from: 'alice', to: '447700900123@hub', text: 'hi' });
    const key = (k: string) => ({ 'idempotency-key': k });
    expect(await answer('/v1/messages', 'POST', '/v1/messages', { body: msg, headers: key('k1') })).toBe(202);
    core.addStatus('k1', { state: 'failed', reason: 'expired', message: 'Not delivered.', certain: false, downgraded: [{ feature: 'location', to: 'text' }] });
    expect(await answer('/v1/messages', 'POST', '/v1/messages', { body: JSON.stringify({ from: 'alice', to: '+447700900999', text: 'hi' }), headers: key('k2') })).toBe(422);
    const submit = core.submit.bind(core);
    core.submit = () => Promise.reject(new RateLimitError(60, 60, 12));
    expect(await answer('/v1/messages', 'POST', '/v1/messages', { body: msg, headers: key('k3') })).toBe(429);
    core.submit = submit;
    expect(await answer('/v1/messages', 'POST', '/v1/messages', { body: '{}', headers: key('k2') })).toBe(400);
    expect(await answer('/v1/messages', 'POST', '/v1/messages', { body: msg, headers: { ...key('k2'), 'content-type': 'text/plain' } })).toBe(415);
    expect(await answer('/v1/messages', 'POST', '/v1/messages', { body: JSON.stringify({ pad: 'x'.repeat(1 << 21) }), headers: key('k2') })).toBe(413);
    expect(await answer('/v1/messages', 'POST', '/v1/messages', { body: msg, headers: { ...key('k2'), authorization: 'Bearer wrong' } })).toBe(401);
    const batch = (n: number) => JSON.stringify({ messages: Array.from({ length: n }, (_, i) => ({ idempotency_key: `b${i}`, from: 'alice', to: i === 0 ? '+447700900999' : '447700900123@hub', text: 'x' })) });
    expect(await answer('/v1/messages/batch', 'POST', '/v1/messages/batch', { body: batch(2) })).toBe(200);
    expect(await answer('/v1/messages/batch', 'POST', '/v1/messages/batch', { body: batch(101) })).toBe(413);
    expect(await answer('/v1/messages/{ref}', 'GET', '/v1/messages/k1')).toBe(200);
    expect(await answer('/v1/messages/{ref}', 'GET', '/v1/messages/unknown-key')).toBe(404);
    expect(await answer('/v1/users/{id}/interop', 'PUT', '/v1/users/alice/interop', { body: '{"enabled":true}' })).toBe(200);
    expect(await answer('/v1/users/{id}/safety-number', 'POST', '/v1/users/alice/safety-number', { body: '{"peer":"447700900123@hub"}' })).toBe(200);
    expect(await answer('/v1/directory', 'GET', '/v1/directory?user=alice&phone=%2B447700900123')).toBe(200);
    expect(await answer('/v1/directory', 'GET', '/v1/directory?user=alice&phone=%2B447700900999')).toBe(404);
    expect(await answer('/v1/receipts', 'POST', '/v1/receipts', { body: JSON.stringify({ user: 'alice', peer: '447700900123@hub', message_ids: ['8F2A11C0'], type: 'read' }) })).toBe(202);
    expect(await answer('/v1/media', 'POST', '/v1/media?kind=image&filename=a.png', { body: 'PNG…', headers: { 'content-type': 'image/png' } })).toBe(201);
    expect(await answer('/v1/media', 'POST', '/v1/media?kind=exe', { body: 'x', headers: { 'content-type': 'image/png' } })).toBe(400);

    // The core refusing the sender's input (not opted in, a file it refuses): 422 naming the field.
    core.submit = async () => Promise.reject(refused('from'));
    expect(await answer('/v1/messages', 'POST', '/v1/messages', { body: msg, headers: key('k3') })).toBe(422);
    core.uploadMedia = async () => Promise.reject(refused('media'));
    expect(await answer('/v1/media', 'POST', '/v1/media?kind=image', { body: 'not an image', headers: { 'content-type': 'image/png' } })).toBe(422);

    expect(checked.length).toBe(20);
    expect(problems).toEqual([]);
  });
});
