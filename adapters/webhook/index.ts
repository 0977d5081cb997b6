// The generic webhook adapter: providers with their own backend call Causeway's JSON API
// (routes.ts) and receive signed webhooks (dispatcher.ts) for inbound messages, statuses and
// notices. `deliver`, `status` and `notice` resolve once the event is stored durably in Redis,
// sealed with the keyring (store.ts); this replica then POSTs it at once when its user's lane is
// free, and the provider's acknowledgement comes later, with retries.
// docs/webhook-adapter.md is the provider-facing documentation.
import type { Hono } from 'hono';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { PermanentDeliveryError, type Capabilities, type Connector, type CoreApi, type InboundMessage, type MessageStatus, type Notice } from '../contract.ts';
import type { Keyring } from '../../src/crypto/keyring.ts';
import type { WebhookConfig } from './config.ts';
import { listDeadLetters, replayDeadLetter, storeBase, type DeadLetter } from './dead-letters.ts';
import { Dispatcher } from './dispatcher.ts';
import { inboundEvent, noticeEvent, statusEvent, type PreparedEvent } from './events.ts';
import { createRoutes } from './routes.ts';
import { LOCAL_ID_RE } from './schemas.ts';
import { EventStore } from './store.ts';

export { webhookConfigSchema, type WebhookConfig } from './config.ts';
export { listDeadLetters, replayDeadLetter, type DeadLetter, type DeadLetterTarget } from './dead-letters.ts';
export { verifyWebhookSignature, signWebhook, SIGNATURE_HEADER, EVENT_ID_HEADER, EVENT_TYPE_HEADER, EVENT_COUNT_HEADER, ATTEMPT_HEADER } from './signature.ts';
export { batchEvent, webhookEvent, type WebhookEvent } from './events.ts';
export { buildOpenApi } from './openapi.ts';

export interface WebhookConnectorOptions {
  id: string;
  config: WebhookConfig;
  redis: Redis;
  keyring: Keyring;
  /** The sidecar's Redis key prefix. */
  prefix: string;
  logger: Logger;
  /** Internal timings (tests shorten them); production uses the defaults (lease 15 s, sweep 5 s). */
  tuning?: { leaseMs?: number; sweepIntervalMs?: number };
}

export interface WebhookConnector extends Connector {
  /** Dead letters of this adapter, oldest first. */
  listDeadLetters(opts?: { offset?: number; limit?: number }): Promise<DeadLetter[]>;
  /** Queues a dead letter again (same event id); false if there is no such dead letter. */
  replayDeadLetter(eventId: string): Promise<boolean>;
}

/** Every media kind: the provider gets a hosted, encrypted copy of each verified file (events.ts). */
const CAPABILITIES: Capabilities = { media: ['image', 'video', 'audio', 'voice', 'document'], receipts: true, features: [] };

export function createWebhookConnector(o: WebhookConnectorOptions): WebhookConnector {
  const log = o.logger.child({ adapter: o.id });
  const store = new EventStore(o.redis, o.keyring, storeBase(o.prefix, o.id));
  const dispatcher = new Dispatcher({
    store,
    target: { url: o.config.webhook_url, secret: () => o.config.webhook_secret.reveal(), timeoutMs: o.config.timeout_ms },
    maxAttempts: o.config.max_attempts,
    backoff: o.config.retry_backoff_ms,
    concurrency: o.config.concurrency,
    maxEventsPerPost: o.config.max_events_per_post,
    logger: log,
    ...o.tuning,
  });
  const target = { redis: o.redis, prefix: o.prefix, adapterId: o.id };
  let core: CoreApi | undefined;
  let routes: Hono | undefined;

  async function enqueue(e: PreparedEvent): Promise<void> {
    if (!LOCAL_ID_RE.test(e.user)) throw new PermanentDeliveryError(`not a provider user id: ${JSON.stringify(e.user)}`);
    const r = await dispatcher.submit(e);
    if (r.duplicate) log.debug({ eventId: e.eventId, type: e.type }, 'webhook event already pending');
  }

  return {
    type: 'webhook',
    id: o.id,
    capabilities: CAPABILITIES,
    init(c) {
      core = c;
    },
    routes() {
      routes ??= createRoutes({ adapterId: o.id, pathPrefix: o.config.path_prefix, apiTokens: o.config.api_tokens, core: () => core, logger: log, maxMessagesPerBatch: o.config.max_messages_per_batch });
      return routes;
    },
    start: () => dispatcher.start(),
    stop: () => dispatcher.stop(),
    deliver: (m: InboundMessage) => enqueue(inboundEvent(o.id, m, Date.now())),
    status: (s: MessageStatus) => enqueue(statusEvent(o.id, s, Date.now())),
    notice: (n: Notice) => enqueue(noticeEvent(n, Date.now())),
    listDeadLetters: (opts) => listDeadLetters(target, opts),
    async replayDeadLetter(eventId) {
      const r = await replayDeadLetter(target, eventId);
      if (r) await dispatcher.poke(r.user);
      return r !== undefined;
    },
  };
}
