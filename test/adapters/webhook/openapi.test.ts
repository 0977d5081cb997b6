// The OpenAPI document: served (authenticated) at /openapi.json and {prefix}/openapi.json, OpenAPI
// 3.1 with every route, bearer security, and request schemas that are exactly what the validating
// zod schemas generate (so the document cannot drift from the checks).
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { buildOpenApi, createWebhookConnector } from '../../../adapters/webhook/index.ts';
import { jsonSchemaOf } from '../../../adapters/webhook/openapi.ts';
import { batchBody, directoryQuery, receiptsBody, sendMessageBody } from '../../../adapters/webhook/schemas.ts';
import { AUTH, FakeCore, newKeyring, silentLogger, webhookConfig } from './support.ts';
import type { Redis } from 'ioredis';

type Doc = {
  openapi: string;
  security: unknown;
  paths: Record<string, Record<string, { requestBody?: { content: Record<string, { schema: { $ref: string } }> }; parameters?: Array<{ name: string; in: string; required: boolean; schema: unknown }>; responses: Record<string, unknown> }>>;
  webhooks: Record<string, unknown>;
  components: { securitySchemes: Record<string, unknown>; schemas: Record<string, unknown> };
};

describe('OpenAPI document', () => {
  // The routes never touch Redis; a stand-in object is enough.
  const connector = createWebhookConnector({ id: 'api', config: webhookConfig(), redis: {} as Redis, keyring: newKeyring(), prefix: 'unused', logger: silentLogger });
  connector.init(new FakeCore());
  const app = connector.routes?.();

  it('is served with a token at /openapi.json and /v1/openapi.json, and not without', async () => {
    const a = await app?.request('/openapi.json', { headers: AUTH });
    expect(a?.status).toBe(200);
    const b = await app?.request('/v1/openapi.json', { headers: AUTH });
    expect(await b?.json()).toEqual(await a?.json());
    expect((await app?.request('/openapi.json'))?.status).toBe(401);
  });

  it('is OpenAPI 3.1 with every route, bearer security and the webhooks', () => {
    const doc = buildOpenApi('/v1') as Doc;
    expect(doc.openapi).toBe('3.1.0');
    expect(doc.security).toEqual([{ bearer: [] }]);
    expect(doc.components.securitySchemes.bearer).toMatchObject({ type: 'http', scheme: 'bearer' });
    expect(Object.keys(doc.paths).sort()).toEqual(['/v1/directory', '/v1/media', '/v1/messages', '/v1/messages/batch', '/v1/messages/{ref}', '/v1/openapi.json', '/v1/receipts', '/v1/users/{id}/interop', '/v1/users/{id}/safety-number']);
    expect(Object.keys(doc.webhooks).sort()).toEqual(['batch', 'message.received', 'message.status', 'notice']);
    for (const [path, ops] of Object.entries(doc.paths)) {
      for (const [method, op] of Object.entries(ops)) {
        expect(op.responses['401'], `${method} ${path}`).toBeDefined();
        const ref = op.requestBody?.content['application/json']?.schema.$ref;
        if (ref) expect(doc.components.schemas[ref.replace('#/components/schemas/', '')], ref).toBeDefined();
      }
    }
    // Every $ref resolves.
    const refs = [...JSON.stringify(doc).matchAll(/"\$ref":"#\/components\/schemas\/([A-Za-z]+)"/g)].map((m) => m[1] as string);
    expect(refs.length).toBeGreaterThan(10);
    for (const name of refs) expect(doc.components.schemas[name], name).toBeDefined();
  });

  it('describes request bodies and parameters with the validating schemas', () => {
    const doc = buildOpenApi('/v1') as Doc;
    expect(doc.components.schemas.SendMessage).toEqual(jsonSchemaOf(sendMessageBody, 'input'));
    expect(doc.components.schemas.Receipts).toEqual(jsonSchemaOf(receiptsBody, 'input'));
    const send = doc.components.schemas.SendMessage as { required: string[]; additionalProperties: boolean; properties: Record<string, { pattern?: string }> };
    expect(send.required.sort()).toEqual(['from', 'to']); // text or feature: checked by the schema's refinement
    expect(Object.keys(send.properties).sort()).toEqual(['feature', 'from', 'media', 'reply_to', 'text', 'to']);
    expect(send.additionalProperties).toBe(false);
    expect(send.properties.from?.pattern).toBe('^[a-z0-9._=-]{1,64}$');
    const params = doc.paths['/v1/directory']?.get?.parameters ?? [];
    const q = z.toJSONSchema(directoryQuery, { io: 'input' }) as { properties: Record<string, { pattern: string }> };
    expect(params.map((p) => [p.name, p.in, p.required])).toEqual([['user', 'query', true], ['phone', 'query', true]]);
    expect(params.find((p) => p.name === 'phone')?.schema).toMatchObject({ pattern: q.properties.phone?.pattern });
    expect(doc.paths['/v1/messages']?.post?.parameters?.[0]).toMatchObject({ name: 'Idempotency-Key', in: 'header', required: true });
  });

  it('describes the batch endpoint with the validating schema and the configured limit', () => {
    const doc = buildOpenApi('/v1', { maxMessagesPerBatch: 7 }) as Doc;
    expect(doc.components.schemas.SendMessages).toEqual(jsonSchemaOf(batchBody(7), 'input'));
    const batch = doc.components.schemas.SendMessages as { properties: { messages: { maxItems: number; items: { required: string[]; properties: Record<string, unknown> } } } };
    expect(batch.properties.messages.maxItems).toBe(7);
    expect(batch.properties.messages.items.required.sort()).toEqual(['from', 'idempotency_key', 'to']);
    expect(Object.keys(batch.properties.messages.items.properties).sort()).toEqual(['feature', 'from', 'idempotency_key', 'media', 'reply_to', 'text', 'to']);
    const op = doc.paths['/v1/messages/batch']?.post;
    expect(op?.requestBody?.content['application/json']?.schema.$ref).toBe('#/components/schemas/SendMessages');
    expect(Object.keys(op?.responses ?? {}).sort()).toEqual(['200', '400', '401', '413', '415', '503']);
    expect(doc.components.schemas.BatchResult).toBeDefined();
  });

  it('follows the configured path prefix', () => {
    expect(Object.keys((buildOpenApi('/api/cw') as Doc).paths)).toContain('/api/cw/messages');
  });
});
