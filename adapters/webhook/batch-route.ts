// POST {prefix}/messages/batch: up to `max_messages_per_batch` messages in one authenticated
// request, so a provider backend with a queue of messages does not pay an HTTP request (node:http,
// routing, auth, body parsing) per message. docs/webhook-adapter.md documents the behaviour:
// - the whole body is validated first: any invalid item is a 400 naming `messages[i].field`, a
//   key used twice in the batch is a 400 too, and a batch above the limit a 413: nothing queued;
// - each item then gets what POST /messages would have answered it: `queued` (202 there, with
//   `duplicate` for a key accepted before) or `rejected` (422 there: nothing stored for it);
// - accepted items are stored in one core call (one Redis script) in request order, so one
//   conversation's messages keep their order; the answer comes once all of them are stored.
import type { Hono } from 'hono';
import type { CoreApi, OutboundMessage, SubmitOutcome as Outcome } from '../contract.ts';
import { check, invalid, readJson, sizeLimit, type Issue } from './http.ts';
import { submitAll } from '../submit-all.ts';
import { outboundMessage, resolveRecipient } from './outbound.ts';
import { batchBody, type batchResult } from './schemas.ts';
import type { z } from 'zod';

type ItemResult = z.output<typeof batchResult>['results'][number];

export interface BatchRouteOptions {
  adapterId: string;
  pathPrefix: string;
  maxMessages: number;
  /** The core, or throws (answered 503 by the app's error handler). */
  core: () => CoreApi;
}

export function addBatchRoute(app: Hono, o: BatchRouteOptions): void {
  const schema = batchBody(o.maxMessages);
  app.post(`${o.pathPrefix}/messages/batch`, sizeLimit, async (c) => {
    const body = await readJson(c);
    if (!body.ok) return body.res;
    // Counted before the items are validated: a huge batch is refused without parsing each item.
    const raw = (body.value as { messages?: unknown } | null)?.messages;
    if (Array.isArray(raw) && raw.length > o.maxMessages) {
      return c.json({ error: 'too many messages', issues: [{ field: 'messages', in: 'body', message: `at most ${o.maxMessages} messages per request; split the batch` }] }, 413);
    }
    const issues: Issue[] = [];
    const b = check(schema, body.value, 'body', issues);
    if (!b) return invalid(c, issues);
    const firstOf = new Map<string, number>();
    b.messages.forEach((m, i) => {
      const j = firstOf.get(m.idempotency_key);
      if (j === undefined) firstOf.set(m.idempotency_key, i);
      else issues.push({ field: `messages[${i}].idempotency_key`, in: 'body', message: `repeats messages[${j}].idempotency_key: each message needs its own key` });
    });
    if (issues.length > 0) return invalid(c, issues);

    const core = o.core();
    const results = new Array<ItemResult>(b.messages.length);
    const pending: Array<{ i: number; m: OutboundMessage }> = [];
    const lookups = new Map<string, Promise<string | undefined>>();
    // One lookup per (sender, number) in the batch.
    const lookup = (from: string, phone: string): Promise<string | undefined> => {
      const pair = `${from}|${phone}`;
      let jid = lookups.get(pair);
      if (!jid) lookups.set(pair, (jid = core.lookup(from, phone)));
      return jid;
    };
    await Promise.all(b.messages.map(async ({ idempotency_key: key, ...m }, i) => {
      // As for a single message: a repeat is answered from the core's record, not looked up again.
      const to = await resolveRecipient(core, o.adapterId, key, m.from, m.to, lookup);
      if ('repeat' in to) {
        results[i] = { idempotency_key: key, status: 'queued', message_id: to.repeat, duplicate: true };
      } else if ('unreachable' in to) {
        results[i] = { idempotency_key: key, status: 'rejected', error: 'recipient not reachable', issues: [{ field: `messages[${i}].to`, in: 'body', message: 'no hub user reachable at this number' }] };
      } else {
        pending.push({ i, m: outboundMessage(key, m, to.to) });
      }
    }));
    pending.sort((x, y) => x.i - y.i); // lookups finish in any order; the core gets request order
    const outcomes = await submitBatch(core, o.adapterId, pending.map((p) => p.m));
    pending.forEach(({ i, m }, k) => {
      const r = outcomes[k] as Outcome;
      results[i] = 'refused' in r
        ? { idempotency_key: m.idempotencyKey, status: 'rejected', error: 'message refused', issues: [{ field: `messages[${i}].${r.refused.field}`, in: 'body', message: r.refused.message }] }
        : { idempotency_key: m.idempotencyKey, status: 'queued', message_id: r.messageId, duplicate: r.duplicate };
    });
    const queued = results.filter((r) => r.status === 'queued').length;
    return c.json({ results, queued, rejected: results.length - queued }, 200);
  });
}

async function submitBatch(core: CoreApi, adapterId: string, ms: OutboundMessage[]): Promise<Outcome[]> {
  if (ms.length === 0) return [];
  const { outcomes, error } = await submitAll(core, adapterId, ms);
  if (error !== undefined) throw error; // answered 5xx: the provider retries the batch (same keys)
  return outcomes;
}
