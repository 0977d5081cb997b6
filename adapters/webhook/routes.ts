// The provider-facing HTTP API of the webhook adapter (docs/webhook-adapter.md). Every route,
// /openapi.json included, requires a bearer token from `api_tokens`. Requests are validated in
// full (auth → content type → size → JSON → schema) before the core is called, so a 4xx never
// queues anything. Routes are registered at full paths, and middleware only on this adapter's
// paths, so mounting the app on the sidecar's root touches no other route.
import { Hono } from 'hono';
import type { Logger } from 'pino';
import type { CoreApi } from '../contract.ts';
import type { Secret } from '../../src/config/secret.ts';
import { bearerAuth } from '../../src/http/auth.ts';
import { statusJson } from './events.ts';
import { check, invalid, readJson, sizeLimit, type Issue } from './http.ts';
import { addBatchRoute } from './batch-route.ts';
import { buildOpenApi } from './openapi.ts';
import { outboundMessage, resolveRecipient } from './outbound.ts';
import {
  DEFAULT_MAX_MESSAGES_PER_BATCH,
  directoryQuery,
  idempotencyKey,
  interopBody,
  messageParams,
  receiptsBody,
  safetyNumberBody,
  sendMessageBody,
  uploadQuery,
  userParams,
} from './schemas.ts';

export interface RoutesOptions {
  adapterId: string;
  pathPrefix: string;
  apiTokens: ReadonlyArray<Secret>;
  core: () => CoreApi | undefined;
  logger: Logger;
  /** Messages one POST {prefix}/messages/batch may carry (config `max_messages_per_batch`). */
  maxMessagesPerBatch?: number;
}

export function createRoutes(o: RoutesOptions): Hono {
  const p = o.pathPrefix;
  const maxBatch = o.maxMessagesPerBatch ?? DEFAULT_MAX_MESSAGES_PER_BATCH;
  const app = new Hono();
  const auth = bearerAuth(o.apiTokens, `causeway ${o.adapterId}`);
  app.use(`${p}/*`, auth);
  app.use('/openapi.json', auth);

  let openapi: object | undefined;
  const serveOpenApi = (c: { json: (o: object) => Response }): Response => c.json((openapi ??= buildOpenApi(p, { maxMessagesPerBatch: maxBatch })));
  app.get('/openapi.json', serveOpenApi);
  app.get(`${p}/openapi.json`, serveOpenApi);

  const coreOr503 = (): CoreApi => {
    const core = o.core();
    if (!core) throw new NotReady();
    return core;
  };

  app.post(`${p}/messages`, sizeLimit, async (c) => {
    const body = await readJson(c);
    if (!body.ok) return body.res;
    const issues: Issue[] = [];
    const key = check(idempotencyKey, c.req.header('idempotency-key'), 'header', issues, 'Idempotency-Key');
    const m = check(sendMessageBody, body.value, 'body', issues);
    if (key === undefined || m === undefined) return invalid(c, issues);
    const core = coreOr503();
    const to = await resolveRecipient(core, o.adapterId, key, m.from, m.to);
    if ('repeat' in to) return c.json({ message_id: to.repeat, status: 'queued' as const, duplicate: true }, 202);
    if ('unreachable' in to) {
      return c.json({ error: 'recipient not reachable', issues: [{ field: 'to', in: 'body', message: 'no hub user reachable at this number' }] }, 422);
    }
    const r = await core.submit(o.adapterId, outboundMessage(key, m, to.to));
    return c.json({ message_id: r.messageId, status: 'queued' as const, duplicate: r.duplicate }, 202);
  });

  addBatchRoute(app, { adapterId: o.adapterId, pathPrefix: p, maxMessages: maxBatch, core: coreOr503 });

  // Large files: the raw body is streamed to the media pipeline (no 1 MiB limit here; the kind's
  // limit applies); the answer's upload_id then goes into a message's media.
  app.post(`${p}/media`, async (c) => {
    const issues: Issue[] = [];
    const q = check(uploadQuery, c.req.query(), 'query', issues);
    const mime = (c.req.header('content-type') ?? '').split(';')[0]?.trim() ?? '';
    if (!/^[a-z0-9][a-z0-9!#$&^_.+-]*\/[a-z0-9][a-z0-9!#$&^_.+-]*$/i.test(mime)) issues.push({ field: 'Content-Type', in: 'header', message: 'must be the file\'s MIME type' });
    if (!q || issues.length > 0 || !c.req.raw.body) return invalid(c, issues.length > 0 ? issues : [{ field: '(body)', in: 'body', message: 'required' }]);
    const r = await coreOr503().uploadMedia({ kind: q.kind, mime, ...(q.filename !== undefined ? { filename: q.filename } : {}), body: c.req.raw.body });
    return c.json({ upload_id: r.uploadId, mime: r.mime, size: r.size }, 201);
  });

  app.get(`${p}/messages/:ref{.+}`, async (c) => {
    const issues: Issue[] = [];
    const params = check(messageParams, { ref: c.req.param('ref') }, 'path', issues);
    if (!params) return invalid(c, issues);
    const list = await coreOr503().statuses(o.adapterId, params.ref);
    const first = list?.[0];
    if (!list || !first) return c.json({ error: 'unknown message' }, 404);
    return c.json({ message_id: first.messageId, statuses: list.map(statusJson) });
  });

  app.put(`${p}/users/:id/interop`, sizeLimit, async (c) => {
    const body = await readJson(c);
    if (!body.ok) return body.res;
    const issues: Issue[] = [];
    const params = check(userParams, { id: c.req.param('id') }, 'path', issues);
    const b = check(interopBody, body.value, 'body', issues);
    if (!params || !b) return invalid(c, issues);
    await coreOr503().setInterop(o.adapterId, params.id, b.enabled);
    return c.json({ user: params.id, enabled: b.enabled });
  });

  app.post(`${p}/users/:id/safety-number`, sizeLimit, async (c) => {
    const body = await readJson(c);
    if (!body.ok) return body.res;
    const issues: Issue[] = [];
    const params = check(userParams, { id: c.req.param('id') }, 'path', issues);
    const b = check(safetyNumberBody, body.value, 'body', issues);
    if (!params || !b) return invalid(c, issues);
    const released = await coreOr503().acknowledgeIdentity(params.id, b.peer);
    return c.json({ user: params.id, peer: b.peer, released });
  });

  app.get(`${p}/directory`, async (c) => {
    const issues: Issue[] = [];
    const raw = c.req.query();
    // An unencoded "+" arrives as a space (form encoding): take it for the "+" it was.
    if (typeof raw.phone === 'string' && raw.phone.startsWith(' ')) raw.phone = `+${raw.phone.slice(1)}`;
    const q = check(directoryQuery, raw, 'query', issues);
    if (!q) return invalid(c, issues);
    const jid = await coreOr503().lookup(q.user, q.phone);
    // One answer for unknown and unreachable (spec 10: never reveal whether a number exists).
    return jid === undefined ? c.json({ error: 'not found' }, 404) : c.json({ jid });
  });

  app.post(`${p}/receipts`, sizeLimit, async (c) => {
    const body = await readJson(c);
    if (!body.ok) return body.res;
    const issues: Issue[] = [];
    const r = check(receiptsBody, body.value, 'body', issues);
    if (!r) return invalid(c, issues);
    await coreOr503().markRead(r.user, r.peer, r.message_ids, r.type);
    return c.json({ accepted: r.message_ids.length }, 202);
  });

  app.notFound((c) => c.json({ error: 'not found' }, 404));
  app.onError((err, c) => {
    if (err instanceof NotReady) return c.json({ error: 'not ready' }, 503);
    // The core refused the message as the sender's error (not opted in, bad media…): nothing queued.
    const field = (err as { field?: unknown }).field;
    if (err.name === 'SubmitError' && typeof field === 'string') {
      // Over limits.outbound_rate_per_user (src/submit-error.ts RateLimitError): retry later, same key.
      const { retryAfterS: retryAfter, limit } = err as { retryAfterS?: unknown; limit?: unknown };
      if (typeof retryAfter === 'number' && typeof limit === 'string') {
        c.header('Retry-After', String(retryAfter));
        return c.json({ error: 'rate limited', limit, retry_after_s: retryAfter, issues: [{ field, in: 'body', message: err.message }] }, 429);
      }
      return c.json({ error: 'message refused', issues: [{ field, in: 'body', message: err.message }] }, 422);
    }
    o.logger.error({ err: err.message, path: c.req.path }, 'webhook API request failed');
    return c.json({ error: 'internal error' }, 500);
  });
  return app;
}

class NotReady extends Error {
  override readonly name = 'NotReady';
}
